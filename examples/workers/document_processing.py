"""Document processing: extract text from an uploaded document and classify it."""
from temporalio import activity, workflow

from common import ACTIVITY_OPTIONS, serve


@activity.defn
async def extract_text(document: str) -> str:
    return f"text of {document}"


@workflow.defn(name="ProcessDocument")
class ProcessDocument:
    @workflow.run
    async def run(self, document: str) -> str:
        text = await workflow.execute_activity(extract_text, document, **ACTIVITY_OPTIONS)
        return f"{document}: {len(text)} characters"


if __name__ == "__main__":
    serve("documents", [ProcessDocument], [extract_text])
