// A task workflow whose every workflow task fails (for the failing-workflow-task test): its Update
// handlers exist, so no Update is rejected as unknown, and each throws a plain Error, which
// fails the workflow task instead of the Update (as a worker's crash mid-step would leave it).
import { condition, setHandler } from '@temporalio/workflow';
import { endTaskUpdate, requestToolCallUpdate, type CollapseResult } from '../../workflows/messages';

export async function taskWorkflow(): Promise<CollapseResult> {
  const broken = (): never => {
    throw new Error('this worker cannot run task workflows (test)');
  };
  setHandler(requestToolCallUpdate, broken);
  setHandler(endTaskUpdate, broken);
  await condition(() => false);
  return broken();
}
