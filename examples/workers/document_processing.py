"""Document processing: extract text from an uploaded document and classify it."""
import asyncio

from temporalio import activity, workflow

from common import ACTIVITY_OPTIONS, serve

# A scanned document (named scan-*) needs OCR, which takes a while: long enough for a
# Temporal outage to happen while it runs.
OCR_SECONDS = 8


@activity.defn
async def extract_text(document: str) -> str:
    # One line per execution, so that an activity executed twice shows in the output.
    print(f"extracting text from {document}", flush=True)
    if document.startswith("scan-"):
        await asyncio.sleep(OCR_SECONDS)
    return f"text of {document}"


@workflow.defn(name="ProcessDocument")
class ProcessDocument:
    @workflow.run
    async def run(self, document: str) -> str:
        text = await workflow.execute_activity(extract_text, document, **ACTIVITY_OPTIONS)
        return f"{document}: {len(text)} characters"


if __name__ == "__main__":
    serve("documents", [ProcessDocument], [extract_text])
