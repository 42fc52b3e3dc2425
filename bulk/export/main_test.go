package export_test

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain quiets gin, whose mode is process-wide: the REST server never
// sets it, a program does (cmd/ucp's run), and a test binary is one.
func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}
