// Replay: the histories recorded from the context scenarios must replay with the current workflow
// code; a deliberately altered workflow under the same name must not. Recorded histories also hold
// no secret. To record them again (after a deliberate, versioned change of the workflow):
//   RECORD_HISTORIES=1 NODE_OPTIONS=--experimental-vm-modules npx jest test/context
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historyFromJson } from '../support/context-world';
import { otherWorkflowBundle, workflowBundle } from '../support/stack';

const DIR = path.resolve(__dirname, '../histories');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const load = (file: string) => historyFromJson(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));

describe('recorded task workflow histories', () => {
  it('cover the context scenarios', () => {
    expect(files).toEqual(
      expect.arrayContaining(['policy-only.json', 'before-one-decide-activity-policy-only.json', 'person-confirms.json', 'escalation-approved.json', 'jit-provisioning.json', 'credential-minted.json', 'continue-as-new-first-run.json']),
    );
  });

  it('all replay with the current workflow code', async () => {
    const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: load(f) }));
    const results: { workflowId: string; error?: string }[] = [];
    // runReplayHistories reports each history's outcome and goes on after a failure (no fail-fast).
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'context-replay' }, histories)) {
      results.push({ workflowId: r.workflowId, error: r.error?.message });
    }
    expect(results).toEqual(histories.map(({ workflowId }) => ({ workflowId, error: undefined })));
  });

  it('fail with a DeterminismViolationError against an altered workflow of the same name', async () => {
    const altered = await otherWorkflowBundle('altered');
    await expect(Worker.runReplayHistory({ workflowBundle: altered, replayName: 'altered-replay' }, load('policy-only.json'))).rejects.toBeInstanceOf(
      DeterminismViolationError,
    );
  });

  it('hold no credential reference, bearer token or minted secret in any payload', () => {
    for (const f of files) {
      const text = JSON.stringify(JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')), (key, value: unknown) =>
        key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value,
      );
      expect({ f, ref: /cr_[\w-]{16,}\.[\w-]{20,}/.test(text), bearer: /Bearer /i.test(text), token: /"token"\s*:/.test(text) }).toEqual({ f, ref: false, bearer: false, token: false });
    }
  });
});
