// z::jit on an overloaded function cannot deduce which one: the candidate clang shows carries
// the advice (C++ has no way to attach a message to a failed deduction).
// RUN: not %cxx-syntax %s 2>&1 | FileCheck %s
// CHECK: error: no matching function for call to 'jit'
// CHECK: couldn't infer template argument 'F'
// CHECK-NEXT: {{.*}}an overloaded function (z::nets::linear): wrap it in a lambda
#include <zephyr/zephyr.h>

namespace z = zephyr;

int main() { auto f = z::jit(z::nets::linear); }
