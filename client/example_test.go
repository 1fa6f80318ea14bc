package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/otpd/otpd/client"
)

var errBadNumber = errors.New("not a phone number")

// The example of docs/api.md ("Go client"), compiled with the tests so it
// stays true.
func Example() {
	run := func(ctx context.Context, phone, userIP, typed string) (bool, error) {
		c, err := client.New("http://localhost:8080", os.Getenv("OTPD_API_KEY"))
		if err != nil {
			return false, err
		}
		v, err := c.Start(ctx, client.StartRequest{To: phone, ClientIP: userIP})
		switch {
		case client.IsCode(err, client.CodeInvalidPhoneNumber):
			return false, errBadNumber // tell the user
		case err != nil:
			return false, err // *client.Error carries Status, Code, Limit, RetryAfter
		}
		res, err := c.Check(ctx, client.CheckRequest{ID: v.ID, Code: typed, ClientIP: userIP})
		if err != nil {
			return false, err // expired, locked (CodeMaxCheckAttempts), otpd unreachable …
		}
		return res.Valid, nil // a wrong or malformed code is Valid false, no error
	}
	_ = run
}

// New wants the API's URL with its scheme: a bare host and port is refused
// at once.
func ExampleNew() {
	_, err := client.New("localhost:8080", "dev-api-key")
	fmt.Println(err)
	// Output: otpd client: base URL "localhost:8080": want http:// or https:// and a host (e.g. http://localhost:8080)
}
