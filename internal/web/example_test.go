package web_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/resmon/resmon/internal/web"
	"github.com/resmon/resmon/quorum"
)

// A console is made without I/O; its handler serves the console's own
// files to anyone, under the same security headers as every page. (A
// clusterd serves it with Serve on a Listen listener; the Store reaches
// etcd.)
func ExampleNew() {
	store, err := quorum.NewStore(nil, "prod", nil) // no etcd is asked here
	if err != nil {
		panic(err)
	}
	srv, err := web.New(web.Config{Node: "node1", Store: store})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/static/style.css", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Println(w.Header().Get("X-Frame-Options"), w.Header().Get("X-Content-Type-Options"))
	// Output:
	// 200 text/css; charset=utf-8
	// DENY nosniff
}
