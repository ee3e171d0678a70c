// The prebuilt workflow bundle (`npm run build`): what the worker runs when it is there, and the same
// workflow code as bundling at start (it replays every recorded history).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { workflowCode, writeWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { historyFromJson } from '../support/context-world';

const HISTORIES = path.resolve(__dirname, '../histories');

describe('prebuilt workflow bundle', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-bundle-'));
  const bundle = path.join(dir, 'workflow-bundle.js');
  let bytes = 0;
  beforeAll(async () => void (bytes = await writeWorkflowBundle(bundle)));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is chosen over bundling at start when written, unless a plugin needs bundling', () => {
    expect(fs.statSync(bundle).size).toBe(bytes);
    expect(workflowCode({ bundle: path.join(dir, 'none.js') })).toEqual({ workflowsPath: expect.stringMatching(/workflows/) });
    expect(workflowCode({ bundle })).toEqual({ workflowBundle: { codePath: bundle } });
    expect(workflowCode({ bundle, prebuilt: false })).toEqual({ workflowsPath: expect.stringMatching(/workflows/) });
  });

  it('replays every recorded task workflow history', async () => {
    const files = fs.readdirSync(HISTORIES).filter((f) => f.endsWith('.json')).sort();
    const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: historyFromJson(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8'))) }));
    const results: { workflowId: string; error?: string }[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: workflowCode({ bundle }).workflowBundle!, replayName: 'prebuilt-replay' }, histories)) {
      results.push({ workflowId: r.workflowId, error: r.error?.message });
    }
    expect(results).toHaveLength(files.length);
    expect(results).toEqual(histories.map(({ workflowId }) => ({ workflowId, error: undefined })));
  });
});
