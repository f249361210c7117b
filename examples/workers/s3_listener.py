"""S3 event listener: handle an object-created event."""
from temporalio import activity, workflow

from common import ACTIVITY_OPTIONS, serve


@activity.defn
async def fetch_object(key: str) -> int:
    return len(key)


@workflow.defn(name="HandleS3Event")
class HandleS3Event:
    @workflow.run
    async def run(self, key: str) -> str:
        size = await workflow.execute_activity(fetch_object, key, **ACTIVITY_OPTIONS)
        return f"s3://{key}: {size} bytes"


if __name__ == "__main__":
    serve("s3-events", [HandleS3Event], [fetch_object])
