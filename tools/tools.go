//go:build tools

// Package tools records the tools this module pins, for go mod tidy.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"
