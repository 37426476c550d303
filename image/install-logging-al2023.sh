#!/usr/bin/env bash
# Amazon Linux 2023: rsyslog (copies the services' journal lines to files) and the CloudWatch agent
# (ships those files). User data writes the agent's config, since it names the stack's log group.
set -euo pipefail

dnf install -y rsyslog amazon-cloudwatch-agent
systemctl enable rsyslog.service
