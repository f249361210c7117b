//! What the endpoint reads in the messages it looks into, and the one change it makes
//! ([`eager`]).
//!
//! Each message type below declares only the fields the endpoint needs, with the tags of
//! Temporal's API (`temporal/api/workflowservice/v1/request_response.proto`); prost skips every
//! other field, so a poll response's history or an activity's input is never decoded. The
//! message itself is always forwarded as it came: nothing here re-encodes one.

mod eager;

use bytes::Bytes;
use prost::Message;
use prost::encoding::{WireType, decode_key, decode_varint};

pub use eager::{Eager, clear_eager_requests};

/// `temporal.api.taskqueue.v1.TaskQueue`.
#[derive(Clone, PartialEq, Message)]
pub struct TaskQueue {
    #[prost(string, tag = "1")]
    pub name: String,
    /// 1 normal, 2 sticky.
    #[prost(int32, tag = "2")]
    pub kind: i32,
    /// For a sticky queue: the normal queue it belongs to.
    #[prost(string, tag = "3")]
    pub normal_name: String,
}

/// The sticky kind of [`TaskQueue::kind`].
pub const STICKY: i32 = 2;

/// `temporal.api.deployment.v1.WorkerDeploymentOptions`.
#[derive(Clone, PartialEq, Message)]
pub struct DeploymentOptions {
    #[prost(string, tag = "1")]
    pub deployment_name: String,
    #[prost(string, tag = "2")]
    pub build_id: String,
}

/// `PollWorkflowTaskQueueRequest` and `PollActivityTaskQueueRequest` (same tags).
#[derive(Clone, PartialEq, Message)]
pub struct PollRequest {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(message, optional, tag = "2")]
    pub task_queue: Option<TaskQueue>,
    #[prost(string, tag = "3")]
    pub identity: String,
    #[prost(message, optional, tag = "6")]
    pub deployment_options: Option<DeploymentOptions>,
    #[prost(string, tag = "8")]
    pub worker_instance_key: String,
}

/// `PollNexusTaskQueueRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PollNexusRequest {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub identity: String,
    #[prost(message, optional, tag = "3")]
    pub task_queue: Option<TaskQueue>,
    #[prost(message, optional, tag = "6")]
    pub deployment_options: Option<DeploymentOptions>,
    #[prost(string, tag = "8")]
    pub worker_instance_key: String,
}

impl From<PollNexusRequest> for PollRequest {
    fn from(r: PollNexusRequest) -> PollRequest {
        PollRequest {
            namespace: r.namespace,
            task_queue: r.task_queue,
            identity: r.identity,
            deployment_options: r.deployment_options,
            worker_instance_key: r.worker_instance_key,
        }
    }
}

/// `temporal.api.common.v1.WorkflowExecution`.
#[derive(Clone, PartialEq, Message)]
pub struct WorkflowExecution {
    #[prost(string, tag = "1")]
    pub workflow_id: String,
    #[prost(string, tag = "2")]
    pub run_id: String,
}

/// The task of a poll response: `PollWorkflowTaskQueueResponse` and `PollNexusTaskQueueResponse`
/// carry the token in field 1 as well; an empty token means the poll ended with no task.
#[derive(Clone, PartialEq, Message)]
pub struct TaskResponse {
    #[prost(bytes = "bytes", tag = "1")]
    pub task_token: Bytes,
}

/// `PollActivityTaskQueueResponse`: the token, and what a `...ById` answer names it by.
#[derive(Clone, PartialEq, Message)]
pub struct ActivityTaskResponse {
    #[prost(bytes = "bytes", tag = "1")]
    pub task_token: Bytes,
    #[prost(message, optional, tag = "4")]
    pub workflow_execution: Option<WorkflowExecution>,
    #[prost(string, tag = "6")]
    pub activity_id: String,
}

/// `RespondWorkflowTaskCompletedResponse`: a new workflow task (`return_new_workflow_task`)
/// and eager activities.
#[derive(Clone, PartialEq, Message)]
pub struct CompletedResponse {
    #[prost(message, optional, tag = "1")]
    pub workflow_task: Option<TaskResponse>,
    #[prost(message, repeated, tag = "2")]
    pub activity_tasks: Vec<ActivityTaskResponse>,
}

/// `StartWorkflowExecutionResponse`: an eager workflow task.
#[derive(Clone, PartialEq, Message)]
pub struct StartResponse {
    #[prost(message, optional, tag = "2")]
    pub eager_workflow_task: Option<TaskResponse>,
}

/// Every answer by token but Nexus's (and `RespondWorkflowTaskCompletedRequest`): the token
/// is field 1.
#[derive(Clone, PartialEq, Message)]
pub struct AnswerRequest {
    #[prost(bytes = "bytes", tag = "1")]
    pub task_token: Bytes,
}

/// `RespondNexusTaskCompletedRequest` and `RespondNexusTaskFailedRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct NexusAnswerRequest {
    #[prost(bytes = "bytes", tag = "3")]
    pub task_token: Bytes,
}

/// `RespondActivityTask{Completed,Failed,Canceled}ByIdRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct AnswerByIdRequest {
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(string, tag = "4")]
    pub activity_id: String,
}

/// Decodes the fields `M` declares from a whole message.
pub fn read<M: Message + Default>(message: &[u8]) -> Result<M, prost::DecodeError> {
    M::decode(message)
}

/// Decodes the fields `M` declares from the first part of a message: the fields that are whole
/// in `prefix` (a field cut by its end is left out, with all after it).
pub fn read_prefix<M: Message + Default>(prefix: &[u8]) -> Result<M, prost::DecodeError> {
    M::decode(&prefix[..whole_fields(prefix)])
}

/// The length of the whole top-level fields at the start of `bytes`.
fn whole_fields(bytes: &[u8]) -> usize {
    let mut buf = bytes;
    let mut whole = 0;
    while !buf.is_empty() {
        let Ok((_, wire_type)) = decode_key(&mut buf) else {
            break;
        };
        let ok = match wire_type {
            WireType::Varint => decode_varint(&mut buf).is_ok(),
            WireType::LengthDelimited => match decode_varint(&mut buf) {
                Ok(len) if (len as usize) <= buf.len() => {
                    buf = &buf[len as usize..];
                    true
                }
                _ => false,
            },
            WireType::SixtyFourBit => skip(&mut buf, 8).is_ok(),
            WireType::ThirtyTwoBit => skip(&mut buf, 4).is_ok(),
            WireType::StartGroup | WireType::EndGroup => false,
        };
        if !ok {
            break;
        }
        whole = bytes.len() - buf.len();
    }
    whole
}

/// A message that does not parse as protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl From<prost::DecodeError> for Malformed {
    fn from(_: prost::DecodeError) -> Malformed {
        Malformed
    }
}

/// Skips `n` bytes of `buf`.
fn skip(buf: &mut &[u8], n: usize) -> Result<(), Malformed> {
    if buf.len() < n {
        return Err(Malformed);
    }
    *buf = &buf[n..];
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::workflowservice::v1::PollActivityTaskQueueResponse;

    #[test]
    fn a_prefix_gives_the_fields_that_are_whole_in_it() {
        let full = PollActivityTaskQueueResponse {
            task_token: b"tok".to_vec(),
            activity_id: "7".into(),
            input: Some(
                temporalio_common::protos::temporal::api::common::v1::Payloads {
                    payloads: vec![Default::default(); 3],
                },
            ),
            ..Default::default()
        }
        .encode_to_vec();
        for cut in [full.len(), full.len() - 1, 12] {
            let task: ActivityTaskResponse = read_prefix(&full[..cut]).unwrap();
            assert_eq!(&task.task_token[..], b"tok", "cut at {cut}");
            assert_eq!(task.activity_id, "7", "cut at {cut}");
        }
        let cut_token: ActivityTaskResponse = read_prefix(&full[..3]).unwrap();
        assert!(
            cut_token.task_token.is_empty(),
            "a token cut short is not read"
        );
    }

    #[test]
    fn the_declared_fields_are_read_and_the_rest_skipped() {
        let full = PollActivityTaskQueueResponse {
            task_token: b"tok".to_vec(),
            activity_id: "7".into(),
            workflow_execution: Some(
                temporalio_common::protos::temporal::api::common::v1::WorkflowExecution {
                    workflow_id: "wf".into(),
                    run_id: "run".into(),
                },
            ),
            attempt: 3,
            ..Default::default()
        };
        let task: ActivityTaskResponse = read(&full.encode_to_vec()).unwrap();
        assert_eq!(&task.task_token[..], b"tok");
        assert_eq!(task.activity_id, "7");
        assert_eq!(task.workflow_execution.unwrap().run_id, "run");
        let empty: TaskResponse = read(&[]).unwrap();
        assert!(empty.task_token.is_empty());
    }
}
