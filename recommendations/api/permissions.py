"""Which policy action each recommendations endpoint needs (see tenants.policy).

SPEC §4: `read` recommends and lists; `write` uploads items and interactions; training needs
`execute`. A person needs the role the policy table gives those actions.
"""
from tenants.policy import Action

ITEM_POLICY = {
    "list": Action.READ,
    "retrieve": Action.READ,
    "similar": Action.READ,
    "create": Action.WRITE,
    "partial_update": Action.WRITE,
    "destroy": Action.WRITE,
}
INTERACTION_POLICY = {"create": Action.WRITE}
RECOMMENDATION_POLICY = {"create": Action.READ}  # a POST that only reads
MODEL_POLICY = {"list": Action.READ, "retrieve": Action.READ, "train": Action.EXECUTE}
