//! Which RPCs the endpoint looks into, and what each one's messages mean for the ledger.
//!
//! | RPC | request | response |
//! |---|---|---|
//! | `Poll{Workflow,Activity,Nexus}TaskQueue` | the queue and the worker (read whole; held while draining) | a task reaches the worker |
//! | `RespondWorkflowTaskCompleted` | answers its task; eager activities cleared while draining | a new workflow task, eager activities |
//! | `RespondWorkflowTaskFailed`, `RespondQueryTaskCompleted`, `RespondActivityTask{Completed,Failed,Canceled}`, `RespondNexusTask{Completed,Failed}` | answers its task (by token) | Temporal took the answer, or not |
//! | `RespondActivityTask{Completed,Failed,Canceled}ById` | answers an activity by its ids | as above |
//! | `StartWorkflowExecution`, `ExecuteMultiOperation` | eager start cleared while draining | an eager workflow task |
//! | everything else (heartbeats included) | passes untouched | passes untouched (errors counted) |

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tonic::Code;

use crate::endpoint::grpc::Inspector;
use crate::endpoint::ledger::{ActivityKey, Answer, PollId, Task};
use crate::endpoint::metrics::{TaskKind, Via};
use crate::endpoint::shared::Shared;
use crate::endpoint::wire::{self, Eager};

const SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

/// Where an answer names its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `task_token`, field 1.
    Token,
    /// `task_token`, field 3 (Nexus).
    NexusToken,
    /// The activity's workflow and activity ids.
    Ids,
}

/// An RPC, as far as the endpoint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    Poll(TaskKind),
    CompleteWorkflowTask,
    Answer(Answer, Names),
    Start(Eager),
    Other,
}

impl Rpc {
    pub fn of(path: &str) -> Rpc {
        let Some(method) = path.strip_prefix(SERVICE) else {
            return Rpc::Other;
        };
        use Answer::{Completed, Failed};
        use Names::{Ids, NexusToken, Token};
        match method {
            "PollWorkflowTaskQueue" => Rpc::Poll(TaskKind::Workflow),
            "PollActivityTaskQueue" => Rpc::Poll(TaskKind::Activity),
            "PollNexusTaskQueue" => Rpc::Poll(TaskKind::Nexus),
            "RespondWorkflowTaskCompleted" => Rpc::CompleteWorkflowTask,
            "RespondQueryTaskCompleted" | "RespondActivityTaskCompleted" => {
                Rpc::Answer(Completed, Token)
            }
            "RespondWorkflowTaskFailed"
            | "RespondActivityTaskFailed"
            | "RespondActivityTaskCanceled" => Rpc::Answer(Failed, Token),
            "RespondNexusTaskCompleted" => Rpc::Answer(Completed, NexusToken),
            "RespondNexusTaskFailed" => Rpc::Answer(Failed, NexusToken),
            "RespondActivityTaskCompletedById" => Rpc::Answer(Completed, Ids),
            "RespondActivityTaskFailedById" | "RespondActivityTaskCanceledById" => {
                Rpc::Answer(Failed, Ids)
            }
            "StartWorkflowExecution" => Rpc::Start(Eager::Start),
            "ExecuteMultiOperation" => Rpc::Start(Eager::MultiStart),
            _ => Rpc::Other,
        }
    }
}

/// What an answer's request named, for its response.
#[derive(Debug, Clone, Default)]
enum Named {
    #[default]
    Nothing,
    Token(Bytes),
    Activity(ActivityKey),
}

/// Looks into the request of an RPC the endpoint follows.
pub struct RequestSide {
    pub rpc: Rpc,
    pub shared: Arc<Shared>,
    /// Shared with the response side: which task this request answers.
    named: Arc<Mutex<Named>>,
}

/// Looks into the response of the same RPC.
pub struct ResponseSide {
    pub rpc: Rpc,
    pub shared: Arc<Shared>,
    named: Arc<Mutex<Named>>,
    /// For a poll: which one.
    pub poll: Option<PollId>,
    /// Whether a message came (a poll that answered had one).
    pub answered: bool,
}

/// The two sides of one RPC.
pub fn sides(rpc: Rpc, shared: &Arc<Shared>) -> (RequestSide, ResponseSide) {
    let named = Arc::new(Mutex::new(Named::Nothing));
    (
        RequestSide {
            rpc,
            shared: shared.clone(),
            named: named.clone(),
        },
        ResponseSide {
            rpc,
            shared: shared.clone(),
            named,
            poll: None,
            answered: false,
        },
    )
}

impl Inspector for RequestSide {
    fn reads(&self) -> bool {
        !matches!(self.rpc, Rpc::Other)
    }

    fn end(&mut self, _: Option<tonic::Status>) {}

    /// One request message: what it answers, and (while draining) no eager work.
    fn message(&mut self, message: &mut [u8]) -> bool {
        let named = match self.rpc {
            Rpc::CompleteWorkflowTask | Rpc::Answer(_, Names::Token) => {
                wire::read::<wire::AnswerRequest>(message)
                    .map_or(Named::Nothing, |r| Named::Token(r.task_token))
            }
            Rpc::Answer(_, Names::NexusToken) => wire::read::<wire::NexusAnswerRequest>(message)
                .map_or(Named::Nothing, |r| Named::Token(r.task_token)),
            Rpc::Answer(_, Names::Ids) => {
                wire::read::<wire::AnswerByIdRequest>(message).map_or(Named::Nothing, |r| {
                    Named::Activity(ActivityKey {
                        workflow_id: r.workflow_id,
                        activity_id: r.activity_id,
                    })
                })
            }
            Rpc::Start(_) | Rpc::Poll(_) | Rpc::Other => Named::Nothing,
        };
        *self.named.lock().unwrap_or_else(|e| e.into_inner()) = named;
        let eager = match self.rpc {
            Rpc::CompleteWorkflowTask => Some(Eager::Activities),
            Rpc::Start(which) => Some(which),
            _ => None,
        };
        match eager {
            Some(which) if self.shared.draining() => {
                wire::clear_eager_requests(message, which).is_ok_and(|n| n > 0)
            }
            _ => false,
        }
    }
}

/// How much of a poll's response is read: its task token and an activity's ids come first.
const POLL_PREFIX: usize = 64 << 10;

impl Inspector for ResponseSide {
    fn reads(&self) -> bool {
        !matches!(self.rpc, Rpc::Other | Rpc::Answer(..))
    }

    fn prefix(&self) -> usize {
        match self.rpc {
            Rpc::Poll(_) => POLL_PREFIX,
            _ => crate::endpoint::grpc::MOST_INSPECTED,
        }
    }

    fn message(&mut self, message: &mut [u8]) -> bool {
        self.tasks(message);
        false
    }

    fn end(&mut self, status: Option<tonic::Status>) {
        self.ended(status);
    }
}

impl ResponseSide {
    /// One response message: the tasks it hands the worker.
    fn tasks(&mut self, message: &[u8]) {
        self.answered = true;
        let workflow = |t: wire::TaskResponse, via| Task {
            token: t.task_token,
            kind: TaskKind::Workflow,
            activity: None,
            via,
        };
        let mut tasks: Vec<Task> = Vec::new();
        match self.rpc {
            Rpc::Poll(TaskKind::Activity) => {
                if let Ok(t) = wire::read_prefix::<wire::ActivityTaskResponse>(message) {
                    tasks.push(activity_task(t, Via::Poll));
                }
            }
            Rpc::Poll(kind) => {
                if let Ok(t) = wire::read_prefix::<wire::TaskResponse>(message) {
                    tasks.push(Task {
                        kind,
                        ..workflow(t, Via::Poll)
                    });
                }
            }
            Rpc::CompleteWorkflowTask => {
                if let Ok(r) = wire::read::<wire::CompletedResponse>(message) {
                    tasks.extend(r.workflow_task.map(|t| workflow(t, Via::Completion)));
                    let eager = r.activity_tasks.into_iter();
                    tasks.extend(eager.map(|t| activity_task(t, Via::Completion)));
                }
            }
            Rpc::Start(_) => {
                if let Ok(r) = wire::read::<wire::StartResponse>(message) {
                    tasks.extend(r.eager_workflow_task.map(|t| workflow(t, Via::Start)));
                }
            }
            Rpc::Answer(..) | Rpc::Other => {}
        }
        if tasks.is_empty() {
            return;
        }
        self.shared
            .with_ledger(|l| tasks.into_iter().for_each(|t| l.delivered(t)));
    }

    /// The RPC ended with `status` (`None`: no status came, the call broke).
    pub fn ended(&mut self, status: Option<tonic::Status>) {
        let code = status
            .as_ref()
            .map_or(Code::Unavailable, tonic::Status::code);
        if code != Code::Ok {
            self.shared.metrics().rpc_error(code);
        }
        if let Some(id) = self.poll {
            let result = match &status {
                Some(s) if s.code() == Code::Ok => Ok(()),
                Some(s) => Err(format!("{:?}: {}", s.code(), s.message())),
                None => Err("the poll broke off".into()),
            };
            self.shared.with_ledger(|l| l.poll_ended(id, result));
        }
        let answer = match (self.rpc, status.is_some()) {
            (Rpc::Answer(answer, _), true) => answer,
            (Rpc::CompleteWorkflowTask, true) => Answer::Completed,
            _ => return,
        };
        let named = std::mem::take(&mut *self.named.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.with_ledger(|l| match named {
            Named::Token(token) => l.answered(&token, answer, code),
            Named::Activity(key) => l.answered_by_id(&key, answer, code),
            Named::Nothing => {}
        });
    }
}

fn activity_task(t: wire::ActivityTaskResponse, via: Via) -> Task {
    let activity = t.workflow_execution.map(|e| ActivityKey {
        workflow_id: e.workflow_id,
        activity_id: t.activity_id,
    });
    Task {
        token: t.task_token,
        kind: TaskKind::Activity,
        activity,
        via,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcs_are_known_by_their_path() {
        let of = |m: &str| Rpc::of(&format!("{SERVICE}{m}"));
        assert_eq!(of("PollActivityTaskQueue"), Rpc::Poll(TaskKind::Activity));
        assert_eq!(
            of("RespondWorkflowTaskCompleted"),
            Rpc::CompleteWorkflowTask
        );
        assert_eq!(
            of("RespondActivityTaskCanceledById"),
            Rpc::Answer(Answer::Failed, Names::Ids)
        );
        assert_eq!(
            of("RespondNexusTaskCompleted"),
            Rpc::Answer(Answer::Completed, Names::NexusToken)
        );
        assert_eq!(of("RecordActivityTaskHeartbeat"), Rpc::Other);
        assert_eq!(of("StartWorkflowExecution"), Rpc::Start(Eager::Start));
        assert_eq!(Rpc::of("/grpc.health.v1.Health/Check"), Rpc::Other);
    }
}
