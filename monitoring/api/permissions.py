"""Which policy action each monitoring endpoint needs (see tenants.policy).

Reads need READ; managing nodes, groups, maintenance and alert channels, running a check
and acknowledging incidents need OPERATE (operator role or a `write`-scoped key).
"""
from tenants.policy import Action

CRUD_OPERATE = {
    "list": Action.READ,
    "retrieve": Action.READ,
    "create": Action.OPERATE,
    "update": Action.OPERATE,
    "partial_update": Action.OPERATE,
    "destroy": Action.OPERATE,
}
NODE_POLICY = CRUD_OPERATE | {
    "check": Action.OPERATE,
    "pause": Action.OPERATE,
    "resume": Action.OPERATE,
    "history": Action.READ,
}
ALERT_CHANNEL_POLICY = CRUD_OPERATE | {"rotate_secret": Action.OPERATE, "deliveries": Action.READ}
INCIDENT_POLICY = {"list": Action.READ, "retrieve": Action.READ, "acknowledge": Action.OPERATE}
READ_ONLY_POLICY = {"list": Action.READ, "retrieve": Action.READ, "summary": Action.READ, "uptime": Action.READ,
                    "groups": Action.READ, "metrics": Action.READ}
