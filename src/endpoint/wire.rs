//! What the endpoint reads in the messages it looks into, and the one change it makes.
//!
//! Each message type below declares only the fields the endpoint needs, with the tags of
//! Temporal's API (`temporal/api/workflowservice/v1/request_response.proto`); prost skips every
//! other field, so a poll response's history or an activity's input is never decoded. The
//! message itself is always forwarded as it came: nothing here re-encodes one.
//!
//! The change: while a worker drains, a workflow task it completes must not pull eager
//! activities, and a workflow it starts must not come back to it as an eager workflow task.
//! [`clear_eager_requests`] turns those `request_eager_execution` flags off where they stand in
//! the message, keeping every byte's place (a `true` varint becomes a `false` of the same
//! length), so unknown fields, field order and lengths are kept exactly.

use bytes::Bytes;
use prost::Message;
use prost::encoding::{WireType, decode_key, decode_varint};

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

/// Where `request_eager_execution` stands: a path of length-delimited fields from the top of
/// the message, then the flag's own tag.
struct FlagPath {
    nested: &'static [u32],
    flag: u32,
}

/// `RespondWorkflowTaskCompletedRequest.commands[].schedule_activity_task_command_attributes
/// .request_eager_execution`.
const EAGER_ACTIVITY: FlagPath = FlagPath {
    nested: &[2, 2],
    flag: 12,
};
/// `StartWorkflowExecutionRequest.request_eager_execution`.
const EAGER_START: FlagPath = FlagPath {
    nested: &[],
    flag: 17,
};
/// `ExecuteMultiOperationRequest.operations[].start_workflow.request_eager_execution`.
const EAGER_MULTI_START: FlagPath = FlagPath {
    nested: &[2, 1],
    flag: 17,
};

/// Which message's eager requests to clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eager {
    /// `RespondWorkflowTaskCompletedRequest`: eager activities.
    Activities,
    /// `StartWorkflowExecutionRequest`: an eager workflow task.
    Start,
    /// `ExecuteMultiOperationRequest`: its start operation's eager workflow task.
    MultiStart,
}

/// Turns every `request_eager_execution` of `message` off, in place; returns how many were on.
/// A message that does not parse is left as it was (and `Err` says so).
pub fn clear_eager_requests(message: &mut [u8], which: Eager) -> Result<u32, Malformed> {
    let path = match which {
        Eager::Activities => &EAGER_ACTIVITY,
        Eager::Start => &EAGER_START,
        Eager::MultiStart => &EAGER_MULTI_START,
    };
    // Find every flag first, so that a message that turns out malformed is not half changed.
    let mut found = Vec::new();
    find_flags(message, 0, path.nested, path.flag, &mut found)?;
    let mut cleared = 0;
    for (start, end) in found {
        let field = &mut message[start..end];
        if field.iter().any(|&b| b & 0x7f != 0) {
            cleared += 1;
        }
        // Zero of the same length: continuation bits kept on every byte but the last.
        let last = field.len() - 1;
        for (i, b) in field.iter_mut().enumerate() {
            *b = if i < last { 0x80 } else { 0 };
        }
    }
    Ok(cleared)
}

/// A message that does not parse as protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl From<prost::DecodeError> for Malformed {
    fn from(_: prost::DecodeError) -> Malformed {
        Malformed
    }
}

/// Collects the byte ranges of the varint values of field `flag` reached through `nested`,
/// within `message`, which starts at `offset` of the whole.
fn find_flags(
    message: &[u8],
    offset: usize,
    nested: &[u32],
    flag: u32,
    found: &mut Vec<(usize, usize)>,
) -> Result<(), Malformed> {
    let mut buf = message;
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf)?;
        let value_start = offset + (message.len() - buf.len());
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf)?;
                if nested.is_empty() && tag == flag {
                    found.push((value_start, offset + (message.len() - buf.len())));
                }
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&len| len <= buf.len())
                    .ok_or(Malformed)?;
                let inner_start = offset + (message.len() - buf.len());
                if let Some((&first, rest)) = nested.split_first()
                    && tag == first
                {
                    find_flags(&buf[..len], inner_start, rest, flag, found)?;
                }
                buf = &buf[len..];
            }
            WireType::SixtyFourBit => skip(&mut buf, 8)?,
            WireType::ThirtyTwoBit => skip(&mut buf, 4)?,
            WireType::StartGroup | WireType::EndGroup => {
                // Groups: not used by Temporal's API.
                return Err(Malformed);
            }
        }
    }
    Ok(())
}

fn skip(buf: &mut &[u8], n: usize) -> Result<(), Malformed> {
    if buf.len() < n {
        return Err(Malformed);
    }
    *buf = &buf[n..];
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::command::v1::{
        Command, ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes, command,
    };
    use temporalio_common::protos::temporal::api::workflowservice::v1::{
        PollActivityTaskQueueResponse, RespondWorkflowTaskCompletedRequest,
        StartWorkflowExecutionRequest,
    };

    fn schedule(id: &str, eager: bool) -> Command {
        Command {
            command_type: 1,
            attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
                ScheduleActivityTaskCommandAttributes {
                    activity_id: id.into(),
                    request_eager_execution: eager,
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn eager_activities_are_cleared_in_place_and_nothing_else_changes() {
        let timer = Command {
            command_type: 4,
            attributes: Some(command::Attributes::StartTimerCommandAttributes(
                StartTimerCommandAttributes {
                    timer_id: "t".into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let request = RespondWorkflowTaskCompletedRequest {
            task_token: b"token".to_vec(),
            commands: vec![
                schedule("a", true),
                timer,
                schedule("b", false),
                schedule("c", true),
            ],
            identity: "1@host".into(),
            return_new_workflow_task: true,
            ..Default::default()
        };
        let before = request.encode_to_vec();
        let mut after = before.clone();
        assert_eq!(clear_eager_requests(&mut after, Eager::Activities), Ok(2));
        assert_eq!(after.len(), before.len());
        let decoded = RespondWorkflowTaskCompletedRequest::decode(after.as_slice()).unwrap();
        let mut expected = request.clone();
        expected.commands[0] = schedule("a", false);
        expected.commands[3] = schedule("c", false);
        assert_eq!(decoded, expected);
        // Nothing to clear the second time; the bytes stay.
        let again = after.clone();
        assert_eq!(clear_eager_requests(&mut after, Eager::Activities), Ok(0));
        assert_eq!(after, again);
    }

    #[test]
    fn an_eager_start_is_cleared_and_a_padded_varint_keeps_its_length() {
        let request = StartWorkflowExecutionRequest {
            workflow_id: "w".into(),
            request_eager_execution: true,
            ..Default::default()
        };
        let mut bytes = request.encode_to_vec();
        assert_eq!(clear_eager_requests(&mut bytes, Eager::Start), Ok(1));
        let decoded = StartWorkflowExecutionRequest::decode(bytes.as_slice()).unwrap();
        assert!(!decoded.request_eager_execution);
        assert_eq!(decoded.workflow_id, "w");
        // Field 17 as a two-byte varint `true` (0x81 0x00), as a non-canonical encoder may write.
        let mut padded = vec![0x88, 0x01, 0x81, 0x00];
        assert_eq!(clear_eager_requests(&mut padded, Eager::Start), Ok(1));
        assert_eq!(padded, [0x88, 0x01, 0x80, 0x00]);
        assert!(
            !StartWorkflowExecutionRequest::decode(padded.as_slice())
                .unwrap()
                .request_eager_execution
        );
    }

    #[test]
    fn a_malformed_message_is_left_untouched() {
        let mut bytes = schedule("a", true).encode_to_vec();
        let mut request = vec![0x12, bytes.len() as u8 + 5];
        request.append(&mut bytes);
        let before = request.clone();
        assert!(clear_eager_requests(&mut request, Eager::Activities).is_err());
        assert_eq!(request, before);
    }

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
