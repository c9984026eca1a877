"""A sweep as one launch against one launch per setting, wall time included.

  python -m benchmarks.sweep_launch [--sizes toy,door] [--values 4] [--seeds 4] [--steps 200]

Each side trains the same settings x seeds for the same updates with `python -m dflow_jax.main`
(startup, dataset loading, compiles, training, checkpoints and the final evaluation all count):
one command with `--config.sweep.agent.alpha=v1,...,vK`, against K commands run one after
another, one per value. Reported: wall seconds and agent-updates per second of wall time.
toy: experiments/toy.py's networks on the bandit. door: 4x256 networks on the regenerated
dflow/door/human-v2 (datagen generates it first when it is missing; not timed).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 0.1, 0.03)
SIZES = {
    'toy': ['--config=experiments/toy.py'],
    'door': ['--config=experiments/adroit.py:door-human', '--config.eval_interval=0',
             '--config.final_eval_episodes=1', '--config.agent.velocity_hidden=(256,256,256,256)',
             '--config.agent.critic_hidden=(256,256,256,256)'],
}


def _command(size: str, workdir: str, seeds: int, steps: int, extra=()) -> list:
  half = steps // 2
  return [sys.executable, '-m', 'dflow_jax.main', *SIZES[size], f'--workdir={workdir}',
          f'--config.num_seeds={seeds}', f'--config.bc_steps={half}',
          f'--config.df_steps={steps - half}', f'--config.chunk_size={max(half // 2, 1)}',
          f'--config.save_interval={steps}', '--config.progress_bar=False',
          '--config.toy_curves=False', '--config.agent.variant=dir', *extra]


def _timed(command: list) -> float:
  start = time.perf_counter()
  subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE)
  return time.perf_counter() - start


def _ensure_door_dataset():
  from dflow_jax.data import minari_io
  if not minari_io.is_local('dflow/door/human-v2'):
    subprocess.run([sys.executable, '-m', 'dflow_jax.datagen', 'generate', 'dflow/door/human-v2',
                    '--quiet'], cwd=ROOT, check=True)


def measure(size: str, values: int, seeds: int, steps: int, seeds_per_vmap: int = 0) -> dict:
  alphas = ALPHAS[:values]
  grouping = [f'--config.seeds_per_vmap={seeds_per_vmap}']
  with tempfile.TemporaryDirectory() as scratch:
    one = _timed(_command(size, os.path.join(scratch, 'sweep'), seeds, steps,
                          [*grouping, '--config.sweep.agent.alpha=' + ','.join(map(str, alphas))]))
    separate = 0.0
    for alpha in alphas:
      workdir = os.path.join(scratch, f'alpha{alpha}')
      separate += _timed(_command(size, workdir, seeds, steps,
                                  [*grouping, f'--config.agent.alpha={alpha}']))
      shutil.rmtree(workdir)
  updates = values * seeds * steps
  return {'size': size, 'values': values, 'seeds': seeds, 'steps': steps,
          'seeds_per_vmap': seeds_per_vmap, 'sweep_s': one, 'separate_s': separate,
          'sweep_updates_per_s': updates / one, 'separate_updates_per_s': updates / separate,
          'speedup': separate / one}


def markdown(rows: list, device: str) -> str:
  lines = [f'Sweep as one launch vs one launch per value ({device}); DF-dir, wall time of whole '
           'commands (startup, compiles, training, checkpoints, final evaluation).', '',
           '| size | values x seeds | updates each | seeds_per_vmap | one sweep (s) | '
           'separate launches (s) | agent-updates/s, sweep | separate | speed-up |',
           '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for r in rows:
    lines.append(f'| {r["size"]} | {r["values"]} x {r["seeds"]} | {r["steps"]} | '
                 f'{r["seeds_per_vmap"]} | {r["sweep_s"]:.1f} | {r["separate_s"]:.1f} | '
                 f'{r["sweep_updates_per_s"]:.0f} | {r["separate_updates_per_s"]:.0f} | '
                 f'{r["speedup"]:.2f}x |')
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', default='toy,door')
  parser.add_argument('--values', type=int, default=4)
  parser.add_argument('--seeds', type=int, default=4)
  parser.add_argument('--steps', type=int, default=200, help='updates per agent (both phases)')
  parser.add_argument('--seeds-per-vmap', default='0', help='comma-separated groupings to try')
  parser.add_argument('--out', default='benchmarks/results/sweep_launch')
  args = parser.parse_args()
  import jax
  device = f'{jax.default_backend()}: {jax.devices()[0].device_kind}'
  rows = []
  for size in args.sizes.split(','):
    if size == 'door':
      _ensure_door_dataset()
    for grouping in args.seeds_per_vmap.split(','):
      rows.append(measure(size, args.values, args.seeds, args.steps, int(grouping)))
      print(markdown(rows[-1:], device), flush=True)
  os.makedirs(os.path.dirname(os.path.join(ROOT, args.out)), exist_ok=True)
  with open(os.path.join(ROOT, args.out + '.json'), 'w') as f:
    json.dump({'device': device, 'rows': rows}, f, indent=2)
  text = markdown(rows, device)
  with open(os.path.join(ROOT, args.out + '.md'), 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
