"""Every experiments/ config builds and validates, for every task and size option."""
import importlib

import pytest

from dflow_jax.config import ConfigError, validate
from dflow_jax.presets import CONFIG_OPTIONS

FAMILIES = ('pointmaze', 'adroit', 'gym_mujoco')


def _module(family):
  return importlib.import_module(f'experiments.{family}')


def _config_strings():
  for family in FAMILIES:
    for task in _module(family).TASKS:
      for options in ((), ('quick',), ('cpu',), ('minari',), ('minari', 'quick')):
        if 'minari' in options and task.endswith('-mixed'):
          continue  # local only, refused with minari (tested below)
        yield family, ','.join((task,) + options)


@pytest.mark.parametrize('family, config_string', list(_config_strings()))
def test_every_task_and_option_builds_and_validates(family, config_string):
  config = _module(family).get_config(config_string)
  validate(config)
  assert config.dataset.split('/')[0] in ('dflow', 'D4RL', 'mujoco')
  if 'minari' in config_string:
    assert not config.dataset.startswith('dflow/')


def test_the_toy_config_validates_with_its_dataset_size():
  # 10,000 transitions: the bandit's default size, so batch_size is checked against it too
  validate(importlib.import_module('experiments.toy').get_config(), dataset_size=10_000)


def test_quick_is_smaller_than_cpu_which_is_smaller_than_full():
  module = _module('adroit')
  full, cpu, quick = (module.get_config(s) for s in ('door-human', 'door-human,cpu',
                                                       'door-human,quick'))
  for key in ('bc_steps', 'df_steps', 'num_seeds'):
    assert quick[key] <= cpu[key] <= full[key]
  assert quick.bc_steps + quick.df_steps < 1000


def test_families_set_their_own_hyper_parameters():
  expectiles = {f: _module(f).get_config(_module(f).TASKS[0]).agent.expectile for f in FAMILIES}
  assert expectiles == {'pointmaze': 0.9, 'adroit': 0.8, 'gym_mujoco': 0.7}
  assert _module('gym_mujoco').get_config('hopper-expert').reward_convention == 'locomotion'


@pytest.mark.parametrize('config_string, words', [
    ('nope', 'unknown pointmaze task'),
    ('umaze,fast', "unknown option 'fast'")])
def test_bad_config_strings_are_refused_with_the_valid_choices(config_string, words):
  with pytest.raises(ConfigError, match=words) as error:
    _module('pointmaze').get_config(config_string)
  assert all(option in str(error.value) for option in CONFIG_OPTIONS)
  assert 'umaze' in str(error.value)


def test_every_family_has_a_default_task_named_in_the_first_line():
  from dflow_jax.presets import task_line
  expected = {'adroit': 'dflow/pen/cloned-v2', 'pointmaze': 'dflow/pointmaze/umaze-v2',
              'gym_mujoco': 'dflow/mujoco/hopper/mixed-v0'}
  for family, dataset in expected.items():
    assert _module(family).get_config().dataset == dataset
    assert _module(family).get_config(',quick').num_seeds == 2
    line = task_line(f'experiments/{family}.py', dataset)
    assert dataset in line and f'--config=experiments/{family}.py:TASK' in line
  cloned = 'experiments/adroit.py:door-cloned,quick'
  assert task_line(cloned, 'dflow/door/cloned-v2') == 'task: adroit door-cloned (dflow/door/cloned-v2)'
  # --config.dataset=x: the first line names the dataset trained on, not the config's
  assert task_line(cloned, 'x') == ('task: x (--config.dataset), with the settings of adroit '
                                    'door-cloned')


def test_adroit_mixed_data_exist_only_here():
  from dflow_jax.config import ConfigError
  module = _module('adroit')
  assert module.get_config('hammer-mixed').dataset == 'dflow/hammer/mixed-v2'
  assert module.get_config('pen-cloned,minari').dataset == 'D4RL/pen/cloned-v2'
  with pytest.raises(ConfigError, match='hammer-mixed has no Minari dataset'):
    module.get_config('hammer-mixed,minari')


def test_only_expert_and_mixed_gym_mujoco_data_are_local():
  module = _module('gym_mujoco')
  datasets = {t: module.get_config(t).dataset for t in module.TASKS}
  for task, dataset in datasets.items():
    assert dataset.startswith('dflow/') == task.endswith(('-expert', '-mixed'))
  assert datasets['halfcheetah-expert'] == 'dflow/mujoco/halfcheetah/expert-v0'
  assert datasets['hopper-mixed'] == 'dflow/mujoco/hopper/mixed-v0'
  assert module.get_config('hopper-expert,minari').dataset == 'mujoco/hopper/expert-v0'


def test_mixed_gym_mujoco_data_has_no_minari_download():
  with pytest.raises(ConfigError, match='no Minari dataset') as error:
    _module('gym_mujoco').get_config('walker2d-mixed,minari,quick')
  assert '\n' not in str(error.value) and 'dflow/mujoco/walker2d/mixed-v0' in str(error.value)
