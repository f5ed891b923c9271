# One CloudWatch dashboard per stack: executions, their duration, the Distributed Map's child
# executions (distributed modes), the generator's errors and duration, and the failed items from the
# execution logs. Metric names as AWS publishes them:
#   Step Functions: https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
#   Lambda:         https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
#   Dashboard body: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html

locals {
  sfn     = ["AWS/States"]
  machine = ["StateMachineArn", var.state_machine_arn]
  # A Distributed Map's child executions report under the labelled ARN <state machine ARN>/<label>.
  map_run_machine = var.map_run_label == null ? null : ["StateMachineArn", "${var.state_machine_arn}/${var.map_run_label}"]
  function        = ["FunctionName", var.generator_function_name]

  executions = {
    type   = "metric"
    width  = 12
    height = 6
    properties = {
      title  = "Executions"
      region = var.region
      stat   = "Sum"
      period = var.period_seconds
      view   = "timeSeries"
      metrics = [
        for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] :
        concat(local.sfn, [metric], local.machine)
      ]
    }
  }
  execution_time = {
    type   = "metric"
    width  = 12
    height = 6
    properties = {
      title  = "Execution time (ms)"
      region = var.region
      period = var.period_seconds
      view   = "timeSeries"
      metrics = [
        concat(local.sfn, ["ExecutionTime"], local.machine, [{ stat = "Average" }]),
        concat(local.sfn, ["ExecutionTime"], local.machine, [{ stat = "p90" }]),
        concat(local.sfn, ["ExecutionTime"], local.machine, [{ stat = "Maximum" }]),
      ]
    }
  }
  map_runs = var.map_run_label == null ? [] : [
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Distributed Map child executions (${var.map_run_label})"
        region = var.region
        stat   = "Sum"
        period = var.period_seconds
        view   = "timeSeries"
        metrics = [
          for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
          concat(local.sfn, [metric], local.map_run_machine)
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title   = "Open Map Runs in the account (limit 1,000)"
        region  = var.region
        stat    = "Maximum"
        period  = var.period_seconds
        view    = "timeSeries"
        metrics = [concat(local.sfn, ["ApproximateOpenMapRunCount"])]
      }
    },
  ]
  generator = [
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Generator errors and invocations"
        region = var.region
        stat   = "Sum"
        period = var.period_seconds
        view   = "timeSeries"
        metrics = [
          concat(["AWS/Lambda", "Errors"], local.function),
          concat(["AWS/Lambda", "Throttles"], local.function),
          concat(["AWS/Lambda", "Invocations"], local.function),
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Generator duration (ms)"
        region = var.region
        period = var.period_seconds
        view   = "timeSeries"
        metrics = [
          concat(["AWS/Lambda", "Duration"], local.function, [{ stat = "Average" }]),
          concat(["AWS/Lambda", "Duration"], local.function, [{ stat = "Maximum" }]),
        ]
      }
    },
  ]
  # Batch publishes no job-queue depth metric to CloudWatch; `fanout run` shows the queue's jobs
  # live and `fanout report` after the run.
  queue_note = {
    type   = "text"
    width  = 24
    height = 2
    properties = {
      markdown = "**Batch job queue `${var.job_queue_name}`**: AWS Batch publishes no queue-depth metric to CloudWatch. Live counts: `fanout run` (progress) and the Batch console; after a run: `fanout report` (timeline, queue wait)."
    }
  }
  failed_items = {
    type   = "log"
    width  = 24
    height = 8
    properties = {
      title  = "Failed items (execution history: failed tasks, Map Runs and executions)"
      region = var.region
      view   = "table"
      query  = <<-QUERY
        SOURCE '${var.state_machine_log_group_name}'
        | fields @timestamp, execution_arn, type, details.error, details.cause
        | filter type in ["TaskFailed", "TaskTimedOut", "MapRunFailed", "ExecutionFailed", "ExecutionTimedOut"]
        | sort @timestamp desc
        | limit 100
      QUERY
    }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = concat(
      [local.executions, local.execution_time],
      local.map_runs,
      local.generator,
      [local.queue_note, local.failed_items],
    )
  })
}
