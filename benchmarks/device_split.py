"""Training throughput of S agents on one device against the same agents split over several.

  python -m benchmarks.device_split [--sizes toy,door] [--agents 8] [--devices 1,4] [--fake 4]

On a CPU, `--fake N` makes XLA show N host devices (set before JAX starts), as a stand-in for N
accelerators: on 2 cores no speed-up is expected; what it shows is that the split program runs
with no collective operations. Per device count: total agent-updates/s of DF-dir chunks (after
compiling), and the collectives found in the compiled chunk.
"""
import argparse
import os
import sys
import time


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', default='toy,door')
  parser.add_argument('--agents', type=int, default=8)
  parser.add_argument('--devices', default='1,4')
  parser.add_argument('--fake', type=int, default=4, help='host devices to fake on a CPU (0: no)')
  parser.add_argument('--chunk', type=int, default=10)
  parser.add_argument('--budget-s', type=float, default=10.0)
  args = parser.parse_args()
  if args.fake:
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                               + f' --xla_force_host_platform_device_count={args.fake}')
  import jax

  from benchmarks.cases import make_dataset, make_size
  from benchmarks.settings import Settings
  from dflow_jax import train
  from dflow_jax.agents import Agent
  from dflow_jax.runtime import devices
  settings = Settings()
  print(f'{jax.default_backend()}: {len(jax.devices())} x {jax.devices()[0].device_kind}; '
        f'{args.agents} agents, DF-dir, chunks of {args.chunk}')
  print('| size | devices | agent-updates/s | compile s | collectives in the chunk |')
  print('| --- | --- | --- | --- | --- |')
  for size_name in args.sizes.split(','):
    size = make_size(size_name, settings)
    dataset = make_dataset(size, settings)
    agent = Agent(size.agent, size.observation_dim, size.action_dim)
    for count in map(int, args.devices.split(',')):
      mesh = devices.agent_mesh(count, args.agents)
      states = devices.place_agents(
          train.start_decision_flow(agent, train.init_states(agent, 0, args.agents)), mesh)
      data = devices.place_everywhere(dataset, mesh)
      chunk = train.make_chunk(agent, train.DECISION_FLOW, size.batch_size, args.chunk, mesh)
      start = time.perf_counter()
      compiled = chunk.lower(states, data).compile()
      compile_s = time.perf_counter() - start
      text = compiled.as_text()
      found = [op for op in ('all-gather', 'all-reduce', 'reduce-scatter', 'all-to-all',
                             'collective-permute') if op in text]
      states, metrics, _ = chunk(states, data)
      jax.block_until_ready(metrics)
      calls, start = 0, time.perf_counter()
      while calls == 0 or time.perf_counter() - start < args.budget_s:
        states, metrics, _ = chunk(states, data)
        jax.block_until_ready(metrics)
        calls += 1
      rate = calls * args.chunk * args.agents / (time.perf_counter() - start)
      print(f'| {size_name} | {count} | {rate:.0f} | {compile_s:.1f} | '
            f'{", ".join(found) or "none"} |', flush=True)
  sys.stdout.flush()


if __name__ == '__main__':
  main()
