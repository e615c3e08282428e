package kernel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Greeting is a point of a made-up "greeting" domain: the highest
// implementation that does not skip decides the greeting for a name.
var Greeting = kernel.DeclareFirst[string, string]("greeting.compose", kernel.Options{
	Doc:      "Composes the greeting for a name.",
	Policy:   kernel.Fallback, // a failing implementation hands over to the next layer down
	Deadline: 10 * time.Millisecond,
})

// Declare a point, give it a platform default, and call it.
func Example_declareAndCall() {
	cat := kernel.NewCatalogue()
	if err := cat.Add(Greeting); err != nil {
		panic(err)
	}
	reg := kernel.NewRegistry(cat)
	err := reg.SetDefault(Greeting.Impl("greeting.plain", func(_ context.Context, name string) (string, error) {
		return "Hello, " + name, nil
	}))
	if err != nil {
		panic(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		panic(err)
	}
	op, err := k.Begin(context.Background(), "") // the platform default identity
	if err != nil {
		panic(err)
	}
	greeting, err := Greeting.Call(op, "Ada")
	fmt.Println(greeting, err)
	// Output: Hello, Ada <nil>
}

// Implement a point with arguments, bind it through a product, and enable
// the product for a business identity. Its child identity inherits it.
func Example_bindThroughProduct() {
	cat := kernel.NewCatalogue()
	_ = cat.Add(Greeting)
	reg := kernel.NewRegistry(cat)
	_ = reg.SetDefault(Greeting.Impl("greeting.plain", func(_ context.Context, name string) (string, error) {
		return "Hello, " + name, nil
	}))
	// An implementation configured by each binding's arguments, decoded
	// strictly: an unknown field is refused when the configuration compiles.
	shout := Greeting.Factory("festive.shout", func(args json.RawMessage) (kernel.Func[string, string], error) {
		a := struct {
			Word string `json:"word"`
		}{Word: "Hi"}
		if err := kernel.DecodeArgs(args, &a); err != nil {
			return nil, err
		}
		return func(_ context.Context, name string) (string, error) {
			if name == "" {
				return "", extensions.ErrSkip // does not apply: the next implementation answers
			}
			return strings.ToUpper(a.Word + ", " + name + "!"), nil
		}, nil
	})
	_ = reg.Register(shout)
	_ = reg.AddProduct(kernel.Product{Name: "festive", Version: "1.0.0", Priority: 10, Bindings: []kernel.Binding{
		{Point: "greeting.compose", Impl: "festive.shout", Args: json.RawMessage(`{"word":"happy new year"}`)},
	}})
	k, _ := kernel.New(cat, reg)
	_, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "festive"}}},
		{Code: "retail.outlet"}, // nothing of its own: inherits retail's products
	}})
	if err != nil {
		panic(err)
	}
	for _, code := range []string{"retail.outlet", ""} {
		op, _ := k.Begin(context.Background(), kernelCode(code))
		g, _ := Greeting.Call(op, "Ada")
		fmt.Printf("%q: %s\n", code, g)
	}
	op, _ := k.Begin(context.Background(), "retail")
	g, _ := Greeting.Call(op, "")
	fmt.Printf("skip: %q\n", g)
	for _, r := range op.Trace() {
		fmt.Println(r.Point, r.Layer, r.Impl, r.Source, r.Outcome)
	}
	// Output:
	// "retail.outlet": HAPPY NEW YEAR, ADA!
	// "": Hello, Ada
	// skip: "Hello, "
	// greeting.compose product festive.shout festive skip
	// greeting.compose default greeting.plain platform ok
}

// A configuration with a conflict is refused whole, naming both sides, and
// the plans in force stay.
func Example_conflict() {
	cat := kernel.NewCatalogue()
	_ = cat.Add(Greeting)
	reg := kernel.NewRegistry(cat)
	hi := func(_ context.Context, n string) (string, error) { return "hi " + n, nil }
	_ = reg.Register(Greeting.Impl("a.hi", hi), Greeting.Impl("b.hi", hi))
	_ = reg.AddProduct(kernel.Product{Name: "a", Priority: 5, Bindings: []kernel.Binding{{Point: "greeting.compose", Impl: "a.hi"}}})
	_ = reg.AddProduct(kernel.Product{Name: "b", Priority: 5, Bindings: []kernel.Binding{{Point: "greeting.compose", Impl: "b.hi"}}})
	k, _ := kernel.New(cat, reg)
	_, err := k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "shop", Products: []kernel.ProductRef{{Name: "a"}, {Name: "b"}}},
	}})
	fmt.Println(err)
	fmt.Println("in force:", k.Plans().Revision())
	// Output:
	// configuration revision 2 refused (1 problems): shop: point greeting.compose (first): product a binds a.hi and product b binds b.hi, both at priority 5; give one a higher priority or remove one
	// in force: 0
}

func kernelCode(s string) identity.Code { return identity.Code(s) }
