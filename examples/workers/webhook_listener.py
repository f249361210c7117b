"""Webhook listener: process an incoming webhook payload."""
from temporalio import activity, workflow

from common import ACTIVITY_OPTIONS, serve


@activity.defn
async def verify(payload: str) -> bool:
    return bool(payload)


@workflow.defn(name="HandleWebhook")
class HandleWebhook:
    @workflow.run
    async def run(self, payload: str) -> str:
        ok = await workflow.execute_activity(verify, payload, **ACTIVITY_OPTIONS)
        return "accepted" if ok else "rejected"


if __name__ == "__main__":
    serve("webhooks", [HandleWebhook], [verify])
