// The dev server child never outlives its process: a process that ends without stopping it (a
// process.exit, an uncaught error) kills it on the way out; a stopped one leaves no such hook.
import { startDevServer } from '../../src/temporal/dev-server';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

it('is killed when its process exits without stopping it, and a stop removes the exit hook', async () => {
  const before = process.listeners('exit');
  const server = await startDevServer({ namespace: 'default' });
  const hooks = process.listeners('exit').filter((l) => !before.includes(l));
  expect(hooks).toHaveLength(1);
  expect(alive(server.pid!)).toBe(true);
  // What the process runs on its way out.
  hooks[0].call(process, 1);
  expect(await gone(server.pid!)).toBe(true);
  await server.stop();
  expect(process.listeners('exit').filter((l) => !before.includes(l))).toEqual([]);

  const stopped = await startDevServer({ namespace: 'default' });
  await stopped.stop();
  expect(alive(stopped.pid!)).toBe(false);
  expect(process.listeners('exit').filter((l) => !before.includes(l))).toEqual([]);
});
