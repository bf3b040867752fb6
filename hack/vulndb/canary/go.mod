module github.com/hamon-ha/hamon/hack/vulndb/canary

go 1.26.0

require golang.org/x/text v0.3.6
