"""Which policy action each orchestration endpoint needs (see `tenants.policy`).

Viewers and `read` keys see everything; `write` creates and edits clusters, agents and tasks;
`execute` (operators, `execute` keys) triggers, executes, cancels and retries; secrets are
tenant settings (`administer`).
"""

from tenants.policy import Action

READ_ONLY = {"list": Action.READ, "retrieve": Action.READ}
SATELLITES = READ_ONLY
EXECUTE = {"execute": Action.EXECUTE, "trigger": Action.EXECUTE, "cancel": Action.EXECUTE, "retry": Action.EXECUTE}
CLUSTERS = {
    **READ_ONLY,
    "versions": Action.READ,
    "create": Action.WRITE,
    "update": Action.WRITE,
    "destroy": Action.WRITE,
}
RUNS = {**READ_ONLY, "logs": Action.READ, "cancel": Action.EXECUTE}
SECRETS = {**READ_ONLY, "create": Action.ADMINISTER, "update": Action.ADMINISTER, "destroy": Action.ADMINISTER}
AGENTS = {
    **READ_ONLY,
    "create": Action.WRITE,
    "update": Action.WRITE,
    "partial_update": Action.WRITE,
    "destroy": Action.WRITE,
}
# Creating a task runs its agent: starting work, like execute and trigger (operator+, `execute`).
TASKS = {**READ_ONLY, "create": Action.EXECUTE}
