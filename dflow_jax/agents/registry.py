"""The training variants by their config name (`agent.variant`), one file each."""
from dflow_jax.agents import bc, bptt, div, fql
from dflow_jax.agents import dir as direction_oriented

VARIANTS = {'bc': bc.VARIANT, 'dir': direction_oriented.VARIANT, 'div': div.VARIANT,
            'bptt': bptt.VARIANT, 'fql': fql.VARIANT}
