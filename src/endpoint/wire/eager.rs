//! The one change the endpoint makes to a message: while a worker drains, a workflow task it
//! completes must not pull eager activities, and a workflow it starts must not come back to it
//! as an eager workflow task. [`clear_eager_requests`] turns those `request_eager_execution`
//! flags off where they stand in the message, keeping every byte's place (a `true` varint
//! becomes a `false` of the same length), so unknown fields, field order and lengths are kept
//! exactly.

use prost::encoding::{WireType, decode_key, decode_varint};

use super::{Malformed, skip};

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

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use temporalio_common::protos::temporal::api::command::v1::{
        Command, ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes, command,
    };
    use temporalio_common::protos::temporal::api::workflowservice::v1::{
        RespondWorkflowTaskCompletedRequest, StartWorkflowExecutionRequest,
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
}
