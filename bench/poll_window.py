import asyncio, sys, time, statistics, uuid
from temporalio.client import Client
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueRequest, StartWorkflowExecutionRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.common.v1 import WorkflowType

async def main(addr):
    c = await Client.connect(addr)
    svc = c.workflow_service
    lat = []
    for i in range(40):
        q = f"win-{uuid.uuid4()}"
        poll = asyncio.create_task(svc.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=q), identity="w")))
        await asyncio.sleep(0.3)
        t0 = time.perf_counter()
        await svc.start_workflow_execution(StartWorkflowExecutionRequest(namespace="default", workflow_id=str(uuid.uuid4()), workflow_type=WorkflowType(name="X"), task_queue=TaskQueue(name=q), request_id=str(uuid.uuid4())))
        t1 = time.perf_counter()
        r = await poll
        t2 = time.perf_counter()
        assert r.task_token
        lat.append(((t1-t0)*1000, (t2-t0)*1000))
    starts = sorted(x[0] for x in lat); deliver = sorted(x[1] for x in lat)
    print("start rpc ms p50 %.1f p90 %.1f max %.1f" % (statistics.median(starts), starts[int(len(starts)*0.9)], starts[-1]))
    print("start->poll response ms p50 %.1f p90 %.1f max %.1f" % (statistics.median(deliver), deliver[int(len(deliver)*0.9)], deliver[-1]))
asyncio.run(main(sys.argv[1]))
