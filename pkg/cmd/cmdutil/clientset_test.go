package cmdutil

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Every kubernetes.Interface method the plugin's code calls (CoreV1(), Discovery(), ...) is one
// that clientset builds; the others would panic on its nil embedded interface.
func TestClientsetServesEveryGroupThePluginCalls(t *testing.T) {
	methods := map[string]bool{}
	it := reflect.TypeFor[kubernetes.Interface]()
	for i := range it.NumMethod() {
		methods[it.Method(i).Name] = true
	}
	called := map[string][]string{}
	fset := token.NewFileSet()
	for _, root := range []string{"../../../pkg", "../../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 0 {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && methods[sel.Sel.Name] {
						called[sel.Sel.Name] = append(called[sel.Sel.Name], fset.Position(call.Pos()).String())
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(called) == 0 || len(called["CoreV1"]) == 0 {
		t.Fatalf("found no clientset call in the code (%v): the scan is broken", called)
	}
	cs, err := newClientset(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, where := range called {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s() is called (%s) but newClientset does not build it: %v", name, strings.Join(where, ", "), r)
				}
			}()
			out := reflect.ValueOf(cs).MethodByName(name).Call(nil)
			if out[0].IsNil() {
				t.Errorf("%s() is called (%s) but newClientset returns nil for it", name, strings.Join(where, ", "))
			}
		}()
	}
}

// The clientset talks to the API server like kubernetes.NewForConfig's: the default user agent,
// the core group's paths.
func TestClientsetReachesTheAPIServer(t *testing.T) {
	var agent, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent, path = r.UserAgent(), r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"PodList","apiVersion":"v1","items":[]}`))
	}))
	defer srv.Close()
	cs, err := newClientset(&rest.Config{Host: srv.URL, QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if path != "/api/v1/namespaces/kube-system/pods" || agent != rest.DefaultKubernetesUserAgent() {
		t.Errorf("request to %s with agent %q", path, agent)
	}
	if _, err := newClientset(&rest.Config{Host: srv.URL, QPS: 5}); err == nil {
		t.Error("QPS without Burst: no error")
	}
}
