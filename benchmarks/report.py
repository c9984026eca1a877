"""The results file (JSON, rewritten after every case) and its markdown tables and checks."""
import json
import os

# The performance targets, each computed from numbers measured in the same run.
TARGETS = {
    'toy_speedup': 5.0,  # toy, S = 8: chunked + vmapped total steps/s over the baseline's
    'door_speedup': 1.3,  # 4x256 at S = 1: chunked over per-step
    'door_flops_fraction': 0.4,  # 4x256 DF-dir achieved FLOP/s over the square-matmul ceiling
    'steps_per_state_time_ratio': 0.4,  # update time with k = 1 over k = T, at T = 10
}

NOTES = [
    'The square float32 ceiling is measured at the start and again at the end of a run; the '
    'higher of the two is the one fractions are taken of.',
    'FLOPs per update come from XLA\'s cost analysis of one single-seed update with the flow scan '
    'unrolled (XLA counts a loop body once); achieved FLOP/s = FLOPs per update x total steps/s.',
    'The baseline keeps its metrics on the device (no per-step read-back), which favours it. '
    'Each of its calls trains every seed K updates, one seed after another: the work of one '
    'of our chunks.',
    'Levers and the baseline are timed in alternation with their reference, back to back, '
    'over a few rounds (A B, B A, A B, ...): the ratio reported is the median over rounds, and '
    'the range shows the drift left. The sweep rows are timed once each, at different moments '
    'of the run, so ratios between them carry the machine\'s drift (measured up to 30% on '
    'this CPU over half an hour).',
    'Host peak RSS is a process-wide high-water mark: a case raises it only when it needs more '
    'than every case before it. XLA temp MB is the compiled chunk\'s own scratch memory.',
]

NOT_MEASURED = [
    {'lever': 'one rollout shared by the flow-value and policy losses',
     'reason': 'always on (each variant\'s targets in decision_flow); an OFF variant would need '
               'a second copy of the Decision Flow update, so it is not measured'},
    {'lever': 'dataset sampled on the device vs on the host',
     'reason': 'measured by the baseline section, whose batches are drawn on the host and '
               'transferred every step (together with its other per-step costs)'},
    {'lever': 'metrics reduced on the device vs returned every step',
     'reason': 'the chunk sweep covers it: K = 1 returns every update\'s metrics to the host, '
               'K = 100 and 1000 return their mean once per chunk'},
    {'lever': 'buffer donation',
     'reason': 'always on, so the states are not held twice; off was no faster (docs/performance.md, Levers)'},
    {'lever': 'critic heads in a Python loop vs nn.vmap',
     'reason': 'nn.vmap only: the loop gained nothing at the 4x256 size (docs/performance.md, Levers), and '
               'the checkpoint layout follows the ensemble'},
]


class Results:
  """Everything measured so far; `write` rewrites the JSON and markdown so that an interrupted
  run keeps what it measured."""

  def __init__(self, out_dir: str, meta: dict, settings: dict):
    self.out_dir = out_dir
    self.data = {'meta': meta, 'settings': settings, 'ceiling': {}, 'update': [],
                 'levers': [], 'baseline': [], 'eval': [], 'not_measured': NOT_MEASURED,
                 'notes': NOTES, 'checks': [], 'errors': []}

  def add(self, section: str, row: dict):
    self.data[section].append(row)
    self.write()

  def write(self):
    derive(self.data)
    os.makedirs(self.out_dir, exist_ok=True)
    for name, text in (('throughput.json', json.dumps(self.data, indent=2, default=str)),
                       ('throughput.md', markdown(self.data))):
      path = os.path.join(self.out_dir, name)
      with open(path + '.tmp', 'w') as f:
        f.write(text)
      os.replace(path + '.tmp', path)


def _ceiling_rate(data, *names):
  """The highest FLOP/s among the named ceiling measurements (None if none was made)."""
  rates = [(data['ceiling'].get(name) or {}).get('flops_per_s') for name in names]
  return max((r for r in rates if r), default=None)


def derive(data: dict):
  """Fills in what follows from other rows: FLOP/s fractions of the ceilings, and the checks."""
  square = _ceiling_rate(data, 'square_float32', 'square_float32_end')
  layer = _ceiling_rate(data, 'layer_float32')
  for row in data['update']:
    if row.get('flops_per_update'):
      row['achieved_flops_s'] = row['flops_per_update'] * row['total_steps_s']
      if square:
        row['fraction_of_square_ceiling'] = row['achieved_flops_s'] / square
      if layer:
        row['fraction_of_layer_ceiling'] = row['achieved_flops_s'] / layer
  data['checks'] = checks(data)


def _default_k(settings, flow_steps):
  token = str(settings['default_steps_per_state'])
  return flow_steps if token == 'T' else min(int(token), flow_steps)


def _is_default(row, settings):
  """Whether a row was measured at its size's default point."""
  case = row['case']
  T = settings['default_flow_steps']
  return (case['seeds'] == settings['default_seeds'][case['size']]
          and case['flow_steps'] == T and case['chunk'] == settings['default_chunk']
          and case['steps_per_state'] == _default_k(settings, T) and case['scan_unroll'] == 1
          and case['matmul_dtype'] == 'float32' and not case.get('seeds_per_vmap'))


def _check(name, measured, target, higher_is_better, detail):
  ok = measured >= target if higher_is_better else measured <= target
  return {'name': name, 'measured': measured, 'target': target,
          'target_is': 'at least' if higher_is_better else 'at most', 'pass': bool(ok),
          'detail': detail}


def checks(data: dict) -> list:
  settings, found = data['settings'], []
  for row in data['baseline']:
    case = row['case']
    if case['size'] == 'toy' and _is_default(row, settings):
      found.append(_check(
          f"toy {case['variant']} S={case['seeds']}: chunked+vmapped over per-step baseline "
          '(total steps/s)', row['speedup'], TARGETS['toy_speedup'], True,
          'target set for S=8' + ('' if case['seeds'] == 8 else '; not measured at S=8')))
    if case['size'] == 'door' and case['seeds'] == 1 and _is_default(row, settings):
      found.append(_check(
          f"door-sized {case['variant']} S=1: chunked (K={case['chunk']}) over per-step baseline",
          row['speedup'], TARGETS['door_speedup'], True, 'steps/s per seed'))
  for row in data['update']:
    case = row['case']
    if (case['size'] == 'door' and case['variant'] == 'dir' and _is_default(row, settings)
        and row.get('fraction_of_square_ceiling') is not None):
      found.append(_check(
          'door-sized DF-dir at the default point: achieved FLOP/s over the square-matmul '
          'ceiling',
          row['fraction_of_square_ceiling'], TARGETS['door_flops_fraction'], True,
          f"{row['achieved_flops_s']:.3g} FLOP/s; over the layer-shaped ceiling: "
          f"{row.get('fraction_of_layer_ceiling', float('nan')):.3f}"))
  found += _chunk_checks(data) + _steps_per_state_checks(data)
  return found


def _lever_rows(data, lever):
  return [row for row in data['levers'] if row['lever'] == lever]


def _chunk_checks(data):
  """The door-size speedup target again with our own K = 1 chunk as the per-step side: the
  effect of chunking alone (both sample on the device)."""
  found = []
  for row in _lever_rows(data, 'chunk'):
    case = row['reference_case']
    if case['size'] == 'door' and case['seeds'] == 1:
      found.append(_check(
          f"door-sized {case['variant']} S=1: our K={case['chunk']} chunk over our K=1 chunk "
          '(steps/s per seed)', 1.0 / row['speedup'], TARGETS['door_speedup'], True,
          'informative: chunking alone, no host sampling'))
  return found


def _steps_per_state_checks(data):
  found = []
  for row in _lever_rows(data, 'steps_per_state'):
    case, T = row['reference_case'], row['reference_case']['flow_steps']
    # steps/s at k = T over steps/s at k: the time of an update at k over its time at k = T
    found.append(_check(
        f"{case['size']} {case['variant']} T={T}: update time with steps_per_state="
        f"{case['steps_per_state']} over steps_per_state=T", row['speedup'],
        TARGETS['steps_per_state_time_ratio'], False,
        'target set for T=10 and k=1' + ('' if (T, case['steps_per_state']) == (10, 1)
                                         else f'; measured at T={T}')))
  return found


# ---- markdown ----

def _fmt(value):
  if value is None:
    return '-'
  if isinstance(value, bool):
    return 'yes' if value else 'no'
  if isinstance(value, (int, float)):
    return f'{value:,.0f}' if abs(value) >= 1000 else f'{value:.3g}'
  return str(value)


def _table(header, rows):
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(_fmt(v) for v in row) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


def _knobs(case):
  knobs = [name for name, on in [
      (f"unroll {case['scan_unroll']}", case['scan_unroll'] != 1),
      (f"seeds_per_vmap {case.get('seeds_per_vmap')}", bool(case.get('seeds_per_vmap'))),
      (case['matmul_dtype'], case['matmul_dtype'] != 'float32')] if on]
  return ', '.join(knobs) or 'default'


def _case_cells(case):
  return [case['size'], case['variant'], case['seeds'], case['flow_steps'],
          case['steps_per_state'], case['chunk']]


def markdown(data: dict) -> str:
  meta = data['meta']
  out = [f"# Throughput\n\nDevice: {meta.get('device')} ({meta.get('backend')}, "
         f"{meta.get('cpu_count')} CPUs), jax {meta.get('jax')}, {meta.get('started')}\n"]
  if meta.get('smoke'):
    out.append('\n**Smoke run: tiny sizes and single calls; the numbers mean nothing.**\n')
  if data['checks']:
    out.append('\n## Targets\n\n' + _table(
        ['check', 'measured', 'target', 'pass', 'detail'],
        [[c['name'], c['measured'], f"{c['target_is']} {c['target']}",
          'PASS' if c['pass'] else 'FAIL', c['detail']] for c in data['checks']]))
  if data['ceiling']:
    out.append('\n## Dense-matmul ceiling\n\n' + _table(
        ['name', 'shape', 'dtype', 'GFLOP/s'],
        [[name, c['shape'], c['dtype'], c['flops_per_s'] / 1e9]
         for name, c in data['ceiling'].items()]))
  if data['update']:
    out.append('\n## Update throughput (compiled chunk)\n\nS seeds, T flow steps, k flow steps '
               'per state, K updates per chunk.\n\n' + _table(
                   ['size', 'variant', 'S', 'T', 'k', 'K', 'knobs', 'steps/s per seed',
                    'steps/s total', 'ms/update', 'compile s', 'MFLOP/update',
                    '% square ceiling', '% layer ceiling', 'XLA temp MB', 'host peak +MB',
                    'device peak MB'],
                   [_case_cells(r['case']) + [
                       _knobs(r['case']), r['per_seed_steps_s'], r['total_steps_s'],
                       1e3 * r['update_s'], r['compile_s'],
                       (r.get('flops_per_update') or 0) / 1e6 or None,
                       _percent(r.get('fraction_of_square_ceiling')),
                       _percent(r.get('fraction_of_layer_ceiling')),
                       (r.get('compiled_memory') or {}).get('temp_mb'),
                       r['memory']['host_peak_rss_increase_mb'],
                       r['memory'].get('device_peak_mb')] for r in data['update']]))
  if data['levers']:
    out.append('\n## Levers (each against the default, timed in alternation with it)\n\n'
               + _table(
                   ['size', 'variant', 'lever', 'setting', 'steps/s per seed',
                    'reference steps/s per seed', 'setting / reference (median)',
                    'range over rounds', 'XLA temp MB', 'reference temp MB'],
                   [[r['size'], r['variant'], r['lever'], r['setting'], r['per_seed_steps_s'],
                     r['reference_per_seed_steps_s'], r['speedup'], _range(r),
                     r['temp_mb'], r['reference_temp_mb']] for r in data['levers']]))
  out.append('\nNot measured separately:\n\n' + ''.join(
      f"- {n['lever']}: {n['reason']}\n" for n in data['not_measured']))
  out.append('\nNotes:\n\n' + ''.join(f'- {note}\n' for note in data['notes']))
  if data['baseline']:
    out.append('\n## Against a per-step, host-sampled, seed-after-seed baseline\n\n' + _table(
        ['size', 'variant', 'S', 'T', 'k', 'K', 'ours steps/s total',
         'baseline steps/s total', 'speedup (median)', 'range over rounds'],
        [_case_cells(r['case']) + [r['ours_total_steps_s'], r['baseline_total_steps_s'],
                                   r['speedup'], _range(r)]
         for r in data['baseline']]))
  if data['eval']:
    out.append('\n## Evaluation throughput (untrained toy-sized agent)\n\n' + _table(
        ['env', 'S', 'E', 'envs', 'env steps/s', 'inference ms/vector step',
         'simulation ms/vector step', 'simulation us/env step', 'first call s'],
        [[r['env'], r['seeds'], r['episodes'], r['num_envs'], r['env_steps_s'],
          r['inference_ms_per_vector_step'], r['simulation_ms_per_vector_step'],
          r['simulation_us_per_env_step'], r['first_call_s']] for r in data['eval']]))
  if data['errors']:
    out.append('\n## Errors\n\n' + ''.join(
        f"- {e['section']} {e['label']}: {e['error']}\n" for e in data['errors']))
  return ''.join(out)


def _range(row):
  return f"{row['speedup_min']:.3g}-{row['speedup_max']:.3g} ({row['rounds']} rounds)"


def _percent(fraction):
  return None if fraction is None else 100.0 * fraction
