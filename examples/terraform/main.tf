# Example: a tayori app on AWS with terraform-aws-modules/lambda.
# Build the zip first:  tayori package . --handler myapp.tasks:app -o dist/lambda.zip
# (it prints the handler to give Lambda: tayori_handler.handler).
# Same resources, numbers, IAM and alarms as `tayori template`: a test compares them
# (tests/aws/test_deploy_template.py); see docs/aws.md.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.30"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "app" {
  type    = string
  default = "shop"
}

variable "queue" {
  description = "task queue name (tayori looks queues up by this name)"
  type        = string
  default     = "mail"
}

variable "handler" {
  description = "the handler `tayori package` printed"
  type        = string
  default     = "tayori_handler.handler"
}

variable "timeout" {
  type    = number
  default = 60
}

variable "batch_size" {
  type    = number
  default = 10
}

variable "batching_window" {
  type    = number
  default = 0
}

variable "max_concurrency" {
  type    = number
  default = 50
}

variable "max_receive_count" {
  type    = number
  default = 5
}

locals {
  # SQS visibility timeout >= 6 x function timeout + batching window
  visibility_timeout = 6 * var.timeout + var.batching_window
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.queue}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "queue" {
  name                       = var.queue
  visibility_timeout_seconds = local.visibility_timeout
  message_retention_seconds  = 345600
  max_message_size           = 262144
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_s3_bucket" "blobs" {
  bucket_prefix = "${var.app}-tayori-"
}

resource "aws_s3_bucket_public_access_block" "blobs" {
  bucket                  = aws_s3_bucket.blobs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "blobs" {
  bucket = aws_s3_bucket.blobs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "blobs" {
  bucket = aws_s3_bucket.blobs.id
  rule {
    id     = "expire-claim-check-blobs"
    status = "Enabled"
    filter {}
    expiration {
      days = 21
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_dynamodb_table" "idempotency" {
  name         = "${var.app}-tayori-idempotency"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  attribute {
    name = "id"
    type = "S"
  }
  ttl {
    attribute_name = "expiration"
    enabled        = true
  }
}

# the mail store and rate-limit buckets: named after the idempotency table
# (the Lambda derives it from TAYORI_IDEMPOTENCY_TABLE: X-idempotency -> X-mail)
resource "aws_dynamodb_table" "mail" {
  name         = "${var.app}-tayori-mail"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "list"
    type = "S"
  }
  attribute {
    name = "created_at"
    type = "N"
  }
  global_secondary_index {
    name            = "broadcasts"
    hash_key        = "list"
    range_key       = "created_at"
    projection_type = "KEYS_ONLY"
  }
}

module "worker" {
  source  = "terraform-aws-modules/lambda/aws"
  version = "~> 7.0"

  function_name          = "${var.app}-tayori-worker"
  handler                = var.handler
  runtime                = "python3.12"
  architectures          = ["x86_64"]
  timeout                = var.timeout
  memory_size            = 256
  create_package         = false
  local_existing_package = "${path.module}/dist/lambda.zip"

  environment_variables = {
    TAYORI_URL                = "aws://?region=${var.region}"
    TAYORI_BUCKET             = aws_s3_bucket.blobs.id
    TAYORI_IDEMPOTENCY_TABLE  = aws_dynamodb_table.idempotency.name
    TAYORI_MAX_RECEIVE_COUNT  = tostring(var.max_receive_count)
    TAYORI_VISIBILITY_TIMEOUT = tostring(local.visibility_timeout)
    TAYORI_DLQ_SUFFIX         = "-dlq"
    TAYORI_METRICS            = "true"
  }

  attach_policy_statements = true
  policy_statements = {
    queue = {
      effect = "Allow"
      actions = [
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage",
      ]
      resources = [aws_sqs_queue.queue.arn]
    }
    dlq = {
      effect    = "Allow"
      actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.dlq.arn]
    }
    blobs = {
      effect    = "Allow"
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = ["${aws_s3_bucket.blobs.arn}/*"]
    }
    idempotency = {
      effect    = "Allow"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      resources = [aws_dynamodb_table.idempotency.arn]
    }
    mail = {
      effect = "Allow"
      actions = [
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem", "dynamodb:Query",
      ]
      resources = [aws_dynamodb_table.mail.arn, "${aws_dynamodb_table.mail.arn}/index/*"]
    }
  }

  event_source_mapping = {
    sqs = {
      event_source_arn                   = aws_sqs_queue.queue.arn
      batch_size                         = var.batch_size
      maximum_batching_window_in_seconds = var.batching_window
      function_response_types            = ["ReportBatchItemFailures"]
      scaling_config = {
        maximum_concurrency = var.max_concurrency
      }
    }
  }
  allowed_triggers = {
    sqs = {
      principal  = "sqs.amazonaws.com"
      source_arn = aws_sqs_queue.queue.arn
    }
  }
  create_current_version_allowed_triggers = false
}

# attach to the web app's role: Task.send/send_many and Mailer.broadcast/status
data "aws_iam_policy_document" "producer" {
  statement {
    effect    = "Allow"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.queue.arn]
  }
  statement {
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.blobs.arn}/*"]
  }
  statement {
    effect = "Allow"
    actions = [
      "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem",
      "dynamodb:BatchGetItem", "dynamodb:Query",
    ]
    resources = [aws_dynamodb_table.mail.arn, "${aws_dynamodb_table.mail.arn}/index/*"]
  }
}

resource "aws_iam_policy" "producer" {
  name        = "${var.app}-tayori-producer"
  description = "What the web app needs to enqueue tasks and broadcasts"
  policy      = data.aws_iam_policy_document.producer.json
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${var.app}-tayori-worker-errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.worker.lambda_function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  alarm_name          = "${var.app}-tayori-worker-throttles"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = module.worker.lambda_function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${var.queue}-dlq-not-empty"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  alarm_name          = "${var.queue}-oldest-message-age"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.queue.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 900
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

output "queue_url" {
  value = aws_sqs_queue.queue.url
}

output "dlq_url" {
  value = aws_sqs_queue.dlq.url
}

output "producer_policy_arn" {
  value = aws_iam_policy.producer.arn
}
