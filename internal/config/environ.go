package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Environ returns the environment that makes LoadWorker read w: NAME=value
// for every field with an envconfig tag and a value other than its zero,
// so a process can start another with the configuration it holds (the
// cluster stack starts its workers and ingress this way).
func Environ(w Worker) []string {
	var env []string
	environ(reflect.ValueOf(w), &env)
	return env
}

var durationType = reflect.TypeFor[time.Duration]()

func environ(v reflect.Value, env *[]string) {
	for i := range v.NumField() {
		f, value := v.Type().Field(i), v.Field(i)
		name := f.Tag.Get("envconfig")
		switch {
		case name == "" && value.Kind() == reflect.Struct:
			environ(value, env)
		case name == "" || value.IsZero():
		case value.Type() == durationType:
			*env = append(*env, name+"="+time.Duration(value.Int()).String())
		case value.Kind() == reflect.Slice:
			*env = append(*env, name+"="+strings.Join(value.Interface().([]string), ","))
		default:
			*env = append(*env, fmt.Sprintf("%s=%v", name, value.Interface()))
		}
	}
}
