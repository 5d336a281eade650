"""Actions of the deployments API (SPEC §4): viewers read and see status; operators also read
logs and restart (`OPERATE_STACKS`); admins also deploy (`DEPLOY`) and configure hosts and
projects (`CONFIGURE_DEPLOYMENTS`). Keys: `read` reads, `execute` deploys, `admin` configures."""
from tenants.policy import Action

CONFIGURE = {"create": Action.CONFIGURE_DEPLOYMENTS, "update": Action.CONFIGURE_DEPLOYMENTS,
             "partial_update": Action.CONFIGURE_DEPLOYMENTS, "destroy": Action.CONFIGURE_DEPLOYMENTS}
HOST_ACTIONS = {"list": Action.READ, "retrieve": Action.READ, "deploy_key": Action.READ, **CONFIGURE}
PROJECT_ACTIONS = {"list": Action.READ, "retrieve": Action.READ, "deploy": Action.DEPLOY, **CONFIGURE}
DEPLOYMENT_ACTIONS = {"list": Action.READ, "retrieve": Action.READ}
RECONCILE_ACTIONS = {"create": Action.DEPLOY}
