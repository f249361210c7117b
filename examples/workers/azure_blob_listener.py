"""Azure Blob listener: handle a blob-created event."""
from temporalio import activity, workflow

from common import ACTIVITY_OPTIONS, serve


@activity.defn
async def fetch_blob(name: str) -> int:
    return len(name)


@workflow.defn(name="HandleBlobEvent")
class HandleBlobEvent:
    @workflow.run
    async def run(self, name: str) -> str:
        size = await workflow.execute_activity(fetch_blob, name, **ACTIVITY_OPTIONS)
        return f"blob {name}: {size} bytes"


if __name__ == "__main__":
    serve("azure-blobs", [HandleBlobEvent], [fetch_blob])
