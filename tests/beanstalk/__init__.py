"""Tests of the beanstalkd backend against a real, private beanstalkd."""
