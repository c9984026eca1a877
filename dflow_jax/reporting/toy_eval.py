"""The toy tasks' own measures of a run: the followed metrics at every chunk end (toy_curves.csv,
figures) and the final sampled-action metrics per seed, of the policy and of the behaviour flow."""
import os

import jax

from dflow_jax import data, train
from dflow_jax.agents import Agent
from dflow_jax.reporting.report import per_seed_table


class _ToyCurves:
  """The toy task's followed metrics of the acting policy at a chunk end, per seed, on the
  device ({} for a dataset without them): `config.eval_samples` actions per seed, one jitted call. Before Decision
  Flow starts the run acts with the behaviour flow, so that is what is measured then."""

  def __init__(self, config, agent: Agent, dataset, task):
    followed = task.curves if task and config.toy_curves else ()
    self.names = {f'toy/{name}' for name, _ in followed}
    if not self.names:
      return
    observation, followed = dataset.observations[0], [name for name, _ in followed]

    def measure(states, behavior):
      actions = train.sample_actions(agent, states, observation, config.eval_samples, behavior)
      values = task.metrics(actions)
      return {f'toy/{name}': values[name] for name in followed}
    self._measure = jax.jit(measure, static_argnums=1)

  def __call__(self, states, acting_is_behavior: bool) -> dict:
    return self._measure(states, acting_is_behavior) if self.names else {}


def toy_curves(config, agent: Agent, dataset) -> _ToyCurves:
  return _ToyCurves(config, agent, dataset, data.IN_MEMORY.get(config.dataset))


def evaluate_toy(config, agent: Agent, states, dataset) -> dict:
  """Per seed, sampled-action metrics of the trained policy and of the behaviour flow."""
  task = data.IN_MEMORY.get(config.dataset)
  if task is None or task.metrics is None:
    return {}
  observation = dataset.observations[0]
  result = {}
  for prefix, behavior in (('', False), ('behavior/', True)):
    actions = train.sample_actions(agent, states, observation, config.eval_samples, behavior)
    result.update({prefix + k: v for k, v in jax.device_get(task.metrics(actions)).items()})
  if agent.variant.reports_divergence:  # bc acts with u_nu itself; FQL's policy has no flow path
    result['divergence'] = jax.device_get(train.divergence_from_behavior(
        agent, states, observation, config.eval_samples))
  return result


def toy_summary(config, result: dict, workdir: str) -> str:
  """The per-seed tables of evaluate_toy (policy, then behaviour flow) and the workdir."""
  lines = []
  if result:
    columns = [k for k in result if not k.startswith('behavior/')]
    lines += [f'{config.agent.variant} policy, {config.eval_samples} sampled actions per seed:',
              per_seed_table(result, columns),
              'behaviour flow:',
              per_seed_table({k.split('/', 1)[1]: v for k, v in result.items()
                              if k.startswith('behavior/')},
                             [k.split('/', 1)[1] for k in result if k.startswith('behavior/')])]
  lines.append(f'workdir: {os.path.abspath(workdir)}')
  return '\n'.join(lines)
