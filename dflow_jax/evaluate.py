"""Evaluate a trained run from its workdir alone, in its dataset's eval env (or, for a toy task,
by sampling actions as training's final evaluation did).

  python -m dflow_jax.evaluate --workdir=runs/umaze [--step=N] [--episodes=E] [--video]
                              [--num_samples=N] [--flow_steps=T] [--critic] [--setting=K]
                              [--out_dir=DIR]

Restores config.json and the Orbax checkpoint (the latest, or --step), evaluates every seed with
the same seeds training used at that step (so the scores training printed are reproduced), and
prints the per-seed table and the aggregate over seeds (a sweep: one row per setting, or with
--setting=K that setting's seeds alone). The raw per-episode numbers go to
`eval/step_<N>_episodes_<E>.npz` (`..._best_of_<N>.npz` with --num_samples, `..._T_<T>.npz`
with --flow_steps); --video writes one
MP4 per seed (its first episode) beside them.
learning_curves.png is redrawn from training's records. A toy run (`make run`) prints the
per-seed tables training printed at that step and writes eval_summary.md and action_samples.png.
Everything written goes under --out_dir instead of the workdir when it is given (a run directory
that is read-only to this process). Bad input exits with status 2 and a
one-line message.
"""
import os
import tempfile

from absl import app, flags, logging

from dflow_jax.cli import exit_on_refusal, parse_flags, refuse

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'The run to evaluate (holds config.json and checkpoints/).')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
flags.DEFINE_integer('episodes', None, 'Episodes per seed (default: config.final_eval_episodes).')
flags.DEFINE_bool('video', False, 'Also write an MP4 of one episode per seed.')
flags.DEFINE_bool('critic', False,
                  'Also check the critic: per seed, the correlation of Q(s, a) with the discounted '
                  'Monte Carlo return of 4,096 dataset transitions, and their means, and of its '
                  'advantage Q(s, a) - V(s) with the G - V(s) that followed; and Q of '
                  'the policy\'s actions on 10 of its own episodes against the returns that '
                  'followed.')
flags.DEFINE_string('out_dir', None,
                    'Where the evaluation records, figures and videos go (default: --workdir); '
                    'for a run directory this process may not write to.')
flags.DEFINE_integer('setting', None,
                     'A sweep\'s setting to evaluate (its row in sweep_summary.md); default: '
                     'every setting, each from the same env seeds.')
flags.DEFINE_integer('num_samples', None,
                     'Act with the best of N sampled actions by Q (default: the run\'s '
                     'agent.num_samples); the same trained weights, another way of acting.')
flags.DEFINE_integer('flow_steps', None,
                     'Act by integrating the flow ODE in T steps (sets agent.acting_flow_steps; '
                     'default: the run\'s); the same trained weights, another way of acting.')


def load_config(workdir: str):
  """The run's config: the defaults updated with config.json (older runs lack newer keys and
  may hold retired or renamed ones), checked against the config its checkpoints record."""
  from dflow_jax.config import (
    RESUMABLE_CHANGES,
    ConfigError,
    base_config,
    first_change,
    read_config_file,
    validate,
  )
  from dflow_jax.runtime.checkpoint import OWNER_CONFIG, saved_steps
  if not os.path.isdir(workdir):
    raise ConfigError(f'--workdir {workdir} is not a directory: give the workdir of a training '
                      'run')
  path = os.path.join(workdir, 'config.json')
  saved = read_config_file(path) if os.path.isfile(path) else None
  if saved is None:
    if saved_steps(workdir):
      raise ConfigError(f'{workdir} holds checkpoints but no config.json, so the run they belong '
                        f'to is unknown; if {os.path.join(workdir, OWNER_CONFIG)} exists, it is '
                        'the config that wrote them: copy it to config.json')
    raise ConfigError(f'{workdir} holds no config.json: not a training workdir')
  config = base_config()
  try:
    config.update(saved)
  except (TypeError, ValueError, KeyError, AttributeError) as e:
    if isinstance(e, ConfigError):
      raise
    raise ConfigError(f'{path} does not fit the config schema ({type(e).__name__}: '
                      f'{" ".join(str(e).split())[:200]}); restore it or retrain') from None
  validate(config)
  # Keys that may change on resumption do not change what the checkpoints hold.
  found = first_change(workdir, config, RESUMABLE_CHANGES, (OWNER_CONFIG,))
  if found is not None:
    changed = found[2]
    raise ConfigError(f'{workdir}/config.json is not the config that wrote its checkpoints '
                      f'(changed: {", ".join(changed)}; see {OWNER_CONFIG})')
  return config


def restore_states(workdir: str, config, agent, step: int | None):
  """(step, seed-stacked states) of the checkpoint; ConfigError when it cannot be had."""
  from dflow_jax import sweep, train
  from dflow_jax.config import ConfigError
  from dflow_jax.runtime.checkpoint import Checkpointer
  from dflow_jax.runtime.checkpoint_restore import restore_checked
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise ConfigError(f'{workdir} holds no checkpoints/ directory: nothing to evaluate')
  checkpointer = Checkpointer(workdir, config.max_to_keep)
  try:
    steps = sorted(checkpointer.all_steps())
    if not steps:
      raise ConfigError(f'{checkpointer.directory} holds no checkpoint')
    step = steps[-1] if step is None else step
    if step not in steps:
      raise ConfigError(f'no checkpoint at step {step}; available steps: '
                        f'{", ".join(map(str, steps))}')
    abstract = train.abstract_states(agent, sweep.num_agents(config))
    try:
      states = restore_checked(checkpointer, abstract, step)
    except ConfigError:
      checkpointer = None  # not closed after a failed restore (see restore_checked)
      raise
    return step, states
  finally:
    if checkpointer is not None:
      checkpointer.close()


def build_agent(config, recipe: dict):
  """The Agent of the config, its dims read from the eval env (which is flattened like the
  dataset); the observation statistics come from the checkpointed state."""
  from dflow_jax import train
  from dflow_jax.agents import Agent
  from dflow_jax.config import agent_config
  from dflow_jax.envs.make import make_eval_env
  env = make_eval_env(recipe)
  observation_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
  env.close()
  return Agent(agent_config(config.agent), observation_dim, action_dim,
               seeds_per_vmap=train.seeds_per_vmap(config))


def _chosen_setting(config, setting: int | None):
  """(settings evaluated together, the index of the one chosen or None); ConfigError for an
  index the run does not have."""
  from dflow_jax import sweep
  from dflow_jax.config import ConfigError
  grid = sweep.settings(config)
  if setting is not None and not 0 <= setting < len(grid):
    what = (f'its settings are 0-{len(grid) - 1} (sweep_summary.md)' if sweep.is_sweep(config)
            else 'it is not a sweep: leave --setting out')
    raise ConfigError(f'--setting = {setting} is not a setting of this run: {what}')
  return grid, setting


def _one_setting(config, states, setting: int):
  """The plain-run config of setting `setting` and its seeds' states."""
  from dflow_jax import sweep
  return (sweep.setting_config(config, sweep.settings(config)[setting]),
          sweep.take_setting(states, setting, config.num_seeds))


def writable_output(out_dir: str) -> str:
  """out_dir, made and probed before any work; ConfigError in one line when it cannot be written."""
  from dflow_jax.config import ConfigError
  try:
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=out_dir):
      pass
  except OSError as e:
    raise ConfigError(f'cannot write the evaluation\'s records to {out_dir} ({e.strerror}): '
                      'pass --out_dir=DIR to write them elsewhere') from None
  return out_dir


def _override_acting(config, num_samples: int | None, flow_steps: int | None) -> str:
  """Sets the ways of acting asked for and returns the records' name suffix. Acting only: no
  parameter's shape depends on N or T (nor does any flow-matching or critic loss on T)."""
  suffix = ''
  if num_samples is not None:
    config.agent.num_samples = num_samples
    suffix += f'_best_of_{num_samples}'
  if flow_steps is not None:
    config.agent.acting_flow_steps = flow_steps
    suffix += f'_T_{flow_steps}'
  return suffix


def evaluate_workdir(workdir: str, step: int | None = None, episodes: int | None = None,
                     video: bool = False, log=print, num_samples: int | None = None,
                     critic: bool = False, setting: int | None = None,
                     out: str | None = None, flow_steps: int | None = None) -> dict:
  """Restores the run in `workdir` and evaluates it; raises ConfigError/DatasetError.

  `num_samples` (best of N by Q) and `flow_steps` (the ODE's T) override how the agent acts;
  neither changes a trained weight.
  `setting`: one setting of a sweep (default: all of them). `out`: where records, figures and
  videos are written (default: workdir, which is then only read).
  """
  from dflow_jax import data, sweep
  from dflow_jax.config import ConfigError
  from dflow_jax.data import minari_io, registry
  from dflow_jax.envs.evaluation import reference_range
  from dflow_jax.reporting import evaluator, plots
  config = load_config(workdir)
  grid, setting = _chosen_setting(config, setting)
  out = writable_output(out or workdir)
  if config.dataset in data.IN_MEMORY:
    if video or episodes is not None:
      raise ConfigError(f'{config.dataset} has no env: --video and --episodes do not apply '
                        '(its evaluation samples config.eval_samples actions per seed)')
    _override_acting(config, num_samples, flow_steps)
    return evaluate_in_memory_task(workdir, config, step, log, critic, setting, out)
  if not data.is_local(config.dataset):
    raise data.DatasetError(registry.missing_message(config.dataset, minari_io.datasets_root()))
  meta = data.metadata(config.dataset)
  recipe, reason = evaluator.eval_recipe(config.dataset, meta)
  if recipe is None:
    raise ConfigError(f'cannot evaluate: {reason}')
  suffix = _override_acting(config, num_samples, flow_steps)
  agent = build_agent(config, recipe)
  step, states = restore_states(workdir, config, agent, step)
  swept = config
  if setting is not None and sweep.is_sweep(config):
    config, states = _one_setting(config, states, setting)
    suffix += f'_setting_{setting}'
  env_eval = evaluator.Evaluator(agent, recipe, reference_range(meta), config.seed,
                                 evaluator.decision_flow_start(config),
                                 config.eval_batch_envs, sweep.num_settings(config))
  result = env_eval(states, step, episodes or config.final_eval_episodes,
                    config.validation_episodes)
  path = evaluator.save_record(out, result,
                               f'step_{step}_episodes_{result["episodes"]}{suffix}')
  if sweep.is_sweep(config):
    log(_sweep_text(config, result, toy=False))
  else:
    if sweep.is_sweep(swept):
      log(f'setting {setting} ({sweep.label(grid[setting])}):')
    log(evaluator.summary_text(result))
  log(f'per-episode returns: {path}')
  # Redrawn from training's records (this evaluation is not one of them): an interrupted run
  # never reached the end of training, where the figure is drawn.
  for figure in plots.learning_curves(workdir, out):
    log(f'learning curves: {figure}')
  if critic:
    log(critic_table(config, agent, states))
    log(own_episodes_critic_table(config, agent, states, recipe, step, reference_range(meta),
                                  result['behavior']))
  if video:
    from dflow_jax.envs.video import record_first_episodes
    env_seed, action_seed = evaluator.eval_seeds(config.seed, step)
    directory = os.path.dirname(path)
    for video_path in record_first_episodes(
        agent, states, recipe, env_seed, action_seed, result['behavior'],
        lambda seed: os.path.join(directory, f'step_{step}_seed_{seed}.mp4')):
      log(f'video: {video_path}')
  return result


def _sweep_text(config, result: dict, toy: bool) -> str:
  """Every setting's row (sweep_summary.md's table) of an evaluation of all of a sweep's agents."""
  from dflow_jax import sweep
  from dflow_jax.reporting import sweep_report
  per_agent, headline, what, validation = sweep_report.sweep_scores(config, result, toy)
  rows = sweep_report.setting_rows(sweep.settings(config), config.num_seeds, per_agent, headline,
                                   validation)
  return sweep_report.markdown(config.dataset, headline, rows, config.num_seeds, what)


def evaluate_in_memory_task(workdir: str, config, step: int | None, log=print,
                            critic: bool = False, setting: int | None = None,
                            out: str | None = None) -> dict:
  """A toy run: the sampled-action tables training printed at its end (the same numbers for the
  same step, being drawn from the checkpointed rng), eval_summary.md and the action figure."""
  from dflow_jax import sweep
  from dflow_jax.reporting import plots, toy_eval
  from dflow_jax.runtime import run
  dataset, agent = run.prepare(config)
  step, states = restore_states(workdir, config, agent, step)
  if setting is not None and sweep.is_sweep(config):
    config, states = _one_setting(config, states, setting)
  result = toy_eval.evaluate_toy(config, agent, states, dataset)
  if sweep.is_sweep(config):
    text = f'{_sweep_text(config, result, toy=True)}workdir: {os.path.abspath(workdir)}'
  else:
    text = toy_eval.toy_summary(config, result, workdir)
  out = out or workdir
  with open(os.path.join(out, 'eval_summary.md'), 'w') as f:
    f.write(f'# Evaluation of {config.dataset} at step {step}\n\n```\n{text}\n```\n')
  log(f'checkpoint at step {step}:')
  log(text)
  figure = plots.action_samples(agent, states, dataset,
                                os.path.join(out, plots.ACTION_SAMPLES),
                                dataset_name=config.dataset)
  if figure:
    log(f'action samples: {figure}')
  if critic:
    log(critic_table(config, agent, states))
  return {'states': states, 'agent': agent, 'eval': result, 'step': step}


def critic_table(config, agent, states) -> str:
  """Q against the dataset's Monte Carlo returns, and the critic's advantage against the one that
  followed (critic_check), one line per seed."""
  import numpy as np

  from dflow_jax import data
  from dflow_jax.reporting import critic_check
  dataset = data.load(config.dataset, seed=config.seed, reward_convention=config.reward_convention,
                      drop_nonfinite=config.drop_nonfinite)
  ranking = critic_check.advantage_against_returns(agent, states, dataset, config.agent.discount)
  check = critic_check.q_against_returns(agent, states, dataset, config.agent.discount)
  if check is None:
    lines = ['critic: no transition has an uncut Monte Carlo return (Q column: n/a)']
    q_corr = q_mean = [float('nan')] * len(ranking['correlation'])
  else:
    lines = [f'critic against Monte Carlo returns ({check["transitions"]} transitions, mean '
             f'return {check["return_mean"]:.2f}):']
    q_corr, q_mean = check['correlation'], check['q_mean']
  lines.append(f'advantage ranking: Q(s, a) - V(s) against the G - V(s) that followed, '
               f'{ranking["transitions"]} transitions (near 0: the critic cannot rank the data\'s '
               'actions)')
  lines.append('seed  correlation  mean Q  advantage correlation')
  rows = zip(q_corr, q_mean, ranking['correlation'], strict=True)
  lines += [f'{seed:>4}  {c:>11.3f}  {q:>6.2f}  {a:>21.3f}' for seed, (c, q, a) in enumerate(rows)]
  lines.append(f'mean  {np.mean(q_corr):>11.3f}  {np.mean(q_mean):>6.2f}  '
               f'{np.mean(ranking["correlation"]):>21.3f}')
  return '\n'.join(lines)


# Episodes per seed of the critic's check on the policy's own episodes: a diagnostic, played
# from the evaluation's env seeds, not the scored episodes themselves.
OWN_EPISODES = 10


def own_episodes_critic_table(config, agent, states, recipe: dict, step: int, refs,
                              behavior: bool = False) -> str:
  """Q of the policy's actions where it goes against the return that followed, one line per
  seed (envs/critic_on_policy.py); Q above the return is the critic overrating the policy."""
  import numpy as np

  from dflow_jax import data
  from dflow_jax.envs.critic_on_policy import q_on_own_episodes
  from dflow_jax.reporting import evaluator, scores
  env_seed, action_seed = evaluator.eval_seeds(config.seed, step)
  check = q_on_own_episodes(agent, states, recipe, OWN_EPISODES, env_seed, action_seed,
                            config.agent.discount,
                            data.reward_transform(config.dataset, config.reward_convention),
                            behavior)
  score = check['episode_returns'].mean(axis=1)
  if refs is not None:
    score = scores.normalized(score, *refs)
  lines = [f'critic on the policy\'s own episodes ({OWN_EPISODES} per seed; steps whose return '
           'the time limit does not cut):',
           'seed   score   steps   mean Q  mean return  Q - return  correlation']
  rows = zip(score, check['steps'], check['q_mean'], check['return_mean'], check['correlation'],
             strict=True)
  lines += [f'{seed:>4}  {sc:>6.1f}  {n:>6}  {q:>7.2f}  {g:>11.2f}  {q - g:>10.2f}  {c:>11.3f}'
            for seed, (sc, n, q, g, c) in enumerate(rows)]
  if not np.any(check['steps']):
    lines.append('(no step qualifies: every episode ran into its time limit less than '
                 'log(0.01) / log(discount) steps after it)')
  return '\n'.join(lines)


def _import_envs():
  """Imports the MuJoCo envs, whose renderer follows MUJOCO_GL (chosen before this import)."""
  try:
    import gymnasium_robotics  # noqa: F401
  except Exception as e:  # a GL backend that cannot load fails here, with many types
    reason = ' '.join(str(e).split())[:200] or type(e).__name__
    refuse(f'cannot load the MuJoCo envs with MUJOCO_GL={os.environ.get("MUJOCO_GL", "unset")}'
           f' ({type(e).__name__}: {reason})')


def main(argv):
  if len(argv) > 1:
    refuse(f'unexpected arguments: {" ".join(argv[1:])}')
  exit_on_refusal()
  if not FLAGS.workdir:
    refuse('--workdir is required')
  if FLAGS.episodes is not None and FLAGS.episodes < 1:
    refuse(f'--episodes = {FLAGS.episodes} is invalid: must be an integer >= 1')
  if FLAGS.num_samples is not None and FLAGS.num_samples < 1:
    refuse(f'--num_samples = {FLAGS.num_samples} is invalid: must be an integer >= 1')
  if FLAGS.flow_steps is not None and FLAGS.flow_steps < 1:
    refuse(f'--flow_steps = {FLAGS.flow_steps} is invalid: must be an integer >= 1')
  logging.set_verbosity(logging.WARNING)
  if FLAGS.video:
    os.environ.setdefault('MUJOCO_GL', 'egl')  # off-screen rendering, chosen before any import
  _import_envs()
  from dflow_jax.config import ConfigError
  from dflow_jax.data import DatasetError
  from dflow_jax.envs.video import VideoError
  try:
    evaluate_workdir(FLAGS.workdir, FLAGS.step, FLAGS.episodes, FLAGS.video,
                     num_samples=FLAGS.num_samples, critic=FLAGS.critic, setting=FLAGS.setting,
                     out=FLAGS.out_dir, flow_steps=FLAGS.flow_steps)
  except (ConfigError, DatasetError, VideoError) as e:
    refuse(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
