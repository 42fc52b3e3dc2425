//go:build tools

// Module ucp/tools/mailpit pins mailpit, the SMTP server the email tests
// start (notify/mailpittest builds it from here into the user's cache),
// apart from ucp's own dependencies and from the other tools.
package tools

import _ "github.com/axllent/mailpit"
