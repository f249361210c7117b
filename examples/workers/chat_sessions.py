"""Chat sessions: answer a message within a session."""
from temporalio import activity, workflow

from common import ACTIVITY_OPTIONS, serve


@activity.defn
async def answer(message: str) -> str:
    return f"echo: {message}"


@workflow.defn(name="ChatTurn")
class ChatTurn:
    @workflow.run
    async def run(self, message: str) -> str:
        return await workflow.execute_activity(answer, message, **ACTIVITY_OPTIONS)


if __name__ == "__main__":
    serve("chat-sessions", [ChatTurn], [answer])
