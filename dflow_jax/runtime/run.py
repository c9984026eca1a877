"""The outer training loop: workdir, resume, checkpoints, interruption, progress, evaluation."""
import json
import os
import signal
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from dflow_jax import data, sweep, train
from dflow_jax.agents import Agent
from dflow_jax.config import (
  RESUMABLE_CHANGES,
  ConfigError,
  agent_config,
  first_change,
  saved_config,
  validate,
)
from dflow_jax.data import normalization
from dflow_jax.reporting import evaluator, plots, sweep_report, toy_eval
from dflow_jax.reporting.report import MetricsLog
from dflow_jax.reporting.tensorboard_log import TensorBoardLog
from dflow_jax.runtime import budget, checkpoint, devices, guard, shared_pretraining
from dflow_jax.runtime.checkpoint import Checkpointer
from dflow_jax.runtime.checkpoint_restore import restore_checked

PROGRESS_METRICS = {
    train.CRITIC: ('critic/q_loss', 'critic/value_loss'),
    train.BEHAVIOR: ('behavior/fm_loss', 'critic/q_loss'),
    train.FLOW_VALUE_WARMUP: ('df/flow_value_loss', 'critic/q_loss'),
    train.DECISION_FLOW: ('policy/fm_loss', 'policy/value_term', 'df/flow_value_loss'),
}


class Interrupted(Exception):
  """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

  def __init__(self, step, workdir):
    super().__init__(f'interrupted at step {step}; checkpoint saved in {workdir}; '
                     'run the same command again to resume')
    self.step = step


class StopRequest:
  """Turns the first SIGINT/SIGTERM into a flag the loop checks between chunks."""

  def __init__(self):
    self.requested = False

  def install(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      signal.signal(sig, self._handle)

  def _handle(self, signum, frame):
    if self.requested:  # a second signal: stop now
      raise KeyboardInterrupt
    self.requested = True


def _check_resumable(workdir: str, config: ml_collections.ConfigDict,
                     allowed=RESUMABLE_CHANGES):
  """Raises ConfigError unless `config` may write in `workdir`: its config.json and the config
  its checkpoints record (checkpoints/config.json, absent in older runs) differ from `config`
  only in `allowed` keys. Checkpoints without a readable config.json are refused: whose they
  are cannot be told. Reads only."""
  saved = saved_config(workdir)
  if saved is None:
    steps = checkpoint.saved_steps(workdir)
    if steps:
      owner = os.path.join(workdir, checkpoint.OWNER_CONFIG)
      hint = (f'copy {owner} (the config that wrote them) to {os.path.join(workdir, "config.json")}'
              ' to resume, or use a new --workdir' if os.path.exists(owner)
              else 'use a new --workdir')
      raise ConfigError(f'workdir {workdir} holds checkpoints (steps '
                        f'{", ".join(map(str, steps))}) but no config.json, so the run they '
                        f'belong to is unknown; {hint}')
    return
  found = first_change(workdir, config, allowed, ('config.json', checkpoint.OWNER_CONFIG))
  if found is None:
    return
  name, _, changed = found
  if name == 'config.json':
    raise ConfigError(f'workdir {workdir} holds a run with a different config '
                      f'(changed: {", ".join(changed)}); use a new --workdir')
  raise ConfigError(f'the checkpoints in {workdir} were written by a different config than '
                    f'this one (changed: {", ".join(changed)}; its config.json was replaced?); '
                    'use a new --workdir')


def prepare(config: ml_collections.ConfigDict, log=print):
  """Validates the config against the dataset and builds (dataset, agent); compiles nothing."""
  validate(config)
  dataset = data.load(config.dataset, seed=config.seed,
                      reward_convention=config.reward_convention,
                      drop_nonfinite=config.drop_nonfinite, log=log)
  validate(config, dataset_size=dataset.size)
  stats = normalization.from_observations(dataset.observations)
  agent = Agent(agent_config(config.agent), dataset.observation_dim, dataset.action_dim, stats,
                train.seeds_per_vmap(config))
  return dataset, agent


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       stop: StopRequest | None = None, log=print,
                       init_from: str | None = None, header=()) -> dict:
  """Trains (or resumes) all seeds of `config` in `workdir`; returns the final evaluation.

  `header`: lines logged first, once the dataset and any checkpoint have been read.

  `init_from`: a run whose pre-training this one shares (only Decision Flow settings differ);
  a new workdir starts from its checkpoint at the Decision Flow start (shared_pretraining).
  Raises guard.NonFinite (after writing its record) when a chunk's metrics or parameters are
  not finite; that chunk is not saved.
  """
  messages = []  # after `header`: nothing is printed before every input has been accepted
  dataset, agent = prepare(config, messages.append)
  # Refused here, before any file is written, when the devices do not split the agents.
  mesh = devices.agent_mesh(config.devices, sweep.num_agents(config))
  writer = devices.is_writer()  # process 0 writes every file but the checkpoints
  step, states, checkpointer = _restore_or_init(config, workdir, agent, messages.append,
                                                init_from, mesh, writer)
  dataset = devices.place_everywhere(dataset, mesh)
  for line in [*header, *messages]:
    log(line)
  env_eval = evaluator.Evaluator.for_run(config, agent, log)
  tensorboard = TensorBoardLog(workdir, step, sweep.num_settings(config), enabled=writer)
  try:
    step, states = _train_loop(config, workdir, agent, dataset, step, states, checkpointer,
                               env_eval, tensorboard, stop, mesh, writer, log)
  except guard.NonFinite as e:
    tensorboard.close()
    if writer:
      guard.write_stop_record(workdir, e)
    raise
  except BaseException:
    tensorboard.close()  # on success it stays open for the final evaluation
    raise
  if not writer:  # its part of what process 0 gathers, in the same order as there
    tensorboard.close()
    devices.host_copy(states)
    if env_eval is not None:  # the env episodes of the agents it holds
      env_eval(states, step, config.final_eval_episodes, config.validation_episodes)
    return {'states': states, 'agent': agent, 'eval': None, 'step': step}
  return _final_evaluation(config, workdir, agent, dataset, step, states, env_eval, tensorboard,
                           log)


def _restore_or_init(config, workdir: str, agent: Agent, log, init_from: str | None,
                     mesh=None, writer: bool = True):
  """(step, seed-stacked states, checkpointer): the workdir's latest checkpoint, else
  `init_from`'s pre-training, else fresh states; writes config.json and its copy beside the
  checkpoints. Every check comes before the first write: a refused run changes no file."""
  stopped = guard.read_stop_record(workdir)
  allowed = RESUMABLE_CHANGES | (guard.RECOVERY_CHANGES if stopped else set())
  _check_resumable(workdir, config, allowed)
  schedule = train.Schedule.of(config)
  initialise_from = init_from if init_from and not checkpoint.saved_steps(workdir) else None
  if initialise_from:
    shared_pretraining.check_source(initialise_from, config, schedule.df_start, RESUMABLE_CHANGES)
  # The checkpoint where pre-training ends outlives max_to_keep, for --init_from.
  checkpointer = Checkpointer(workdir, config.max_to_keep, keep_steps=(schedule.df_start,))
  abstract = train.abstract_states(agent, sweep.num_agents(config))
  step = checkpointer.latest_step() or 0
  # A damaged checkpoint is refused here, before anything is written.
  # Restored split over this run's devices, whatever number saved it.
  states = restore_checked(checkpointer, devices.abstract_on(abstract, mesh), step) if step else None
  os.makedirs(workdir, exist_ok=True)
  if writer:
    # Written before any checkpoint, so that no checkpoint is ever without its owner's config.
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      f.write(config.to_json(indent=2))
    checkpoint.write_owner(workdir, config.to_json(indent=2))
  if stopped and writer:
    log(f'resuming after the non-finite stop in updates {stopped["updates"][0]}-'
        f'{stopped["updates"][1]} (first: {stopped["first"]})')
    guard.clear_stop_record(workdir)
  if initialise_from:
    shared_pretraining.start_from(initialise_from, workdir, schedule.df_start, abstract,
                                  checkpointer,
                                  sweep.num_settings(config) if sweep.is_sweep(config) else None,
                                  copy_files=writer)
    step = checkpointer.latest_step()
    states = restore_checked(checkpointer, devices.abstract_on(abstract, mesh), step)

  if step:
    log(f'resumed from the checkpoint at step {step} in {checkpointer.directory}')
  else:
    states = train.init_states(agent, config.seed, config.num_seeds, sweep.num_settings(config))
  if step == 0 and schedule.df_start == 0:
    states = train.start_decision_flow(agent, states)
  return step, devices.place_agents(states, mesh), checkpointer


def _train_loop(config, workdir: str, agent: Agent, dataset, step: int, states, checkpointer,
                env_eval, tensorboard, stop: StopRequest | None, mesh=None, writer: bool = True,
                log=print):
  """Trains chunk by chunk from `step` to the end of the schedule, logging, evaluating and
  saving checkpoints on the way; returns (step, states). Closes the checkpointer; raises
  Interrupted after saving when `stop` is requested."""
  schedule = train.Schedule.of(config)
  total = schedule.total
  names = train.metric_names(agent, config.batch_size, dataset, sweep.agent_hparams(config))
  toy_curves = toy_eval.toy_curves(config, agent, dataset)
  metrics_log = MetricsLog(os.path.join(workdir, 'metrics.csv'),
                           set().union(*names.values(), toy_curves.names), step,
                           seeds_per_setting=config.num_seeds if sweep.is_sweep(config) else None
                           ) if writer else None
  chunks = train.ChunkCache(agent, config.batch_size, mesh)
  # A sweep's per-agent values (None: a plain run), beside the agents they belong to.
  hparams = devices.place_agents(sweep.agent_hparams(config), mesh)
  num_agents = sweep.num_agents(config)
  latest_score = ''
  bar = tqdm(total=total, initial=step, unit='step', dynamic_ncols=True,
             disable=not config.progress_bar or not writer)
  last_saved, start_time, start_step = step, time.time(), step
  chunks_done = 0
  try:
    while step < total:
      phase = schedule.phase_of(step)
      length = min(config.chunk_size, schedule.phase_end(step) - step)
      chunk_start = time.time()
      states, metrics, finite = chunks(phase, length)(states, dataset, hparams)
      # The toy task's followed metrics (none elsewhere) travel in the same transfer.
      followed = toy_curves(states, acting_is_behavior=step + length <= schedule.df_start)
      metrics, finite, followed = devices.to_host((metrics, finite, followed))  # the one transfer
      # Before anything of this chunk is logged or saved.
      guard.check_chunk(metrics, finite, step, step + length, checkpointer.latest_step(),
                        checkpointer.directory)
      step += length
      metrics = {**metrics, **followed}
      chunks_done += 1
      if chunks_done == 2 and writer:  # the first chunk compiles; the second is the rate
        estimate = budget.cpu_estimate(time.time() - chunk_start, length, total - step,
                                       jax.default_backend())
        if estimate and bar.disable:
          log(estimate)
        elif estimate:
          bar.write(estimate)  # above the bar, which stays
      if metrics_log is not None:
        metrics_log.write(step, phase, metrics)
      tensorboard.scalars(step, metrics)
      bar.update(length)
      if step == schedule.df_start:
        states = devices.place_agents(
            train.start_decision_flow(agent, states), mesh)
      if env_eval is not None and step < total and _crossed(step, length, config.eval_interval):
        # each host its own agents
        result = env_eval(states, step, config.eval_episodes, config.validation_episodes)
        if writer:
          evaluator.save_record(workdir, result)
          tensorboard.evaluation(result)
          latest_score = f' | eval {evaluator.headline(result)}'
      bar.set_postfix_str(_progress_text(phase, metrics, step - start_step,
                                         time.time() - start_time, num_agents)
                          + latest_score)
      stopping = stop is not None and stop.requested
      if (step - last_saved >= config.save_interval or step == total or step == schedule.df_start
          or stopping):
        checkpointer.save(step, states)
        last_saved = step
      if stopping and step < total:
        raise Interrupted(step, workdir)
  finally:
    bar.close()
    checkpointer.close()
  return step, states


def _final_evaluation(config, workdir: str, agent: Agent, dataset, step: int, states, env_eval,
                      tensorboard, log) -> dict:
  """Evaluates the trained seeds, writes final_eval.json and the figures, closes `tensorboard`,
  and returns what train_and_evaluate returns."""
  hosted = devices.host_copy(states)  # for figures and the toy metrics: every agent here
  try:
    if env_eval is None:
      result = toy_eval.evaluate_toy(config, agent, hosted, dataset)
      saved = {k: np.asarray(v).tolist() for k, v in result.items()}
      tensorboard.scalars(step, {f'eval/{k}': v for k, v in result.items()})
      text = toy_eval.toy_summary(config, result, workdir)
    else:
      result = env_eval(states, step, config.final_eval_episodes, config.validation_episodes)
      evaluator.save_record(workdir, result)
      tensorboard.evaluation(result)
      evaluator.write_markdown(os.path.join(workdir, 'eval_summary.md'), config.dataset, result,
                               config)
      saved = evaluator.summary(result)
      text = f'{evaluator.summary_text(result)}\nworkdir: {os.path.abspath(workdir)}'
    if sweep.is_sweep(config):
      sweep_text, saved = sweep_report.sweep_summary(config, workdir, result, env_eval is None)
      text = f'{sweep_text}workdir: {os.path.abspath(workdir)}'
  finally:
    tensorboard.close()
  with open(os.path.join(workdir, 'final_eval.json'), 'w') as f:
    json.dump(saved, f, indent=2)
  # Drawn after final_eval.json is written: a plotting failure loses no result.
  figures = plots.run_figures(workdir, agent, hosted, dataset, config.dataset)
  if figures:
    text += '\nplots: ' + ', '.join(figures)
  log(text)
  return {'states': states, 'agent': agent, 'eval': result, 'step': step}


def _crossed(step: int, length: int, interval: int) -> bool:
  """Whether the chunk that ended at `step` crossed a multiple of `interval` (0: never)."""
  return interval > 0 and step // interval > (step - length) // interval


def _progress_text(phase, metrics, steps_done, seconds, num_agents):
  shown = ' '.join(f'{k.split("/")[-1]}={np.mean(metrics[k]):.3g}'
                   for k in PROGRESS_METRICS[phase] if k in metrics)
  rate = steps_done / max(seconds, 1e-9)
  return f'{phase} {shown} | {rate:.0f} steps/s per seed, {rate * num_agents:.0f} total'
