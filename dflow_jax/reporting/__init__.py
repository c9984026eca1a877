"""What people look at: env evaluations, scores and intervals, tables, figures, sweep reports,
TensorBoard scalars and the critic check."""
