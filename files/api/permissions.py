"""Permissions of the files API: the policy table decides (`tenants.policy`, via
`TenantScopedViewSet`); this module names the actions each endpoint needs."""
from tenants.policy import Action

# Reading a file (metadata or bytes) is READ; uploading, deleting and sharing are WRITE (a
# member only for what they created); the access log names who downloaded from which
# address, so it is for operators and above (OPERATE).
FILE_ACTIONS = {
    "list": Action.READ, "retrieve": Action.READ, "content": Action.READ,
    "create": Action.WRITE, "destroy": Action.WRITE,
    "access_log": Action.OPERATE,
}
SHARE_ACTIONS = {"list": Action.READ, "create": Action.WRITE, "destroy": Action.WRITE}
UPLOAD_ACTIONS = {"create": Action.WRITE, "offset": Action.WRITE, "append": Action.WRITE, "terminate": Action.WRITE}
