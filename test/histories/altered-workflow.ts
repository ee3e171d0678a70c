// A deliberately changed task workflow, registered under the same name for the replay test's
// negative case: where the recorded workflow first starts its TTL timer, this one schedules an
// activity, so replaying any recorded history against it must fail as nondeterministic.
import { proxyActivities } from '@temporalio/workflow';
import type { TaskActivities } from '../../activities';
import type { CollapseResult, TaskInput } from '../../workflows/messages';

const { finishCollapse } = proxyActivities<TaskActivities>({ startToCloseTimeout: '10 seconds' });

export async function taskWorkflow(input: TaskInput): Promise<CollapseResult> {
  return finishCollapse({ taskId: input.taskId, status: 'ended', reason: 'altered', by: 'replay-test' });
}
