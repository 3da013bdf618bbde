/* Force-included when mlx-c is built (GCC) or bound (bindgen/clang) on hosts that are not
 * aarch64. Written for mlxbench.
 *
 * 1. mlx-c's half.h defines float16_t / bfloat16_t only on aarch64. Elsewhere we give
 *    them 16-bit storage: for clang (bindgen) `__fp16`, which bindgen renders as the
 *    same `__BindgenFloat16(u16)` mlx-rs expects from aarch64; for GCC a raw struct.
 *    mlx-c only moves these values by pointer or by bit copy, never does arithmetic.
 * 2. GCC 12's libstdc++ has no std::format; mlx-c's io.h uses it with `{}` placeholders
 *    only, so a minimal fallback that substitutes `{}` in order is enough. */
#ifndef MLXBENCH_COMPAT_H
#define MLXBENCH_COMPAT_H

#include <stdint.h>

#if !defined(__aarch64__) && !defined(MLX_HALF_H)
#define MLX_HALF_H /* keep mlx-c's half.h from redefining them */
#define HAS_FLOAT16
#define HAS_BFLOAT16
#ifdef __cplusplus
extern "C" {
#endif
#if defined(__clang__)
typedef __fp16 float16_t;
#else
typedef struct mlxbench_float16 {
  uint16_t bits;
} float16_t;
#endif
typedef uint16_t bfloat16_t;
#ifdef __cplusplus
}
#endif
#endif

#if defined(__cplusplus)
#if defined(__has_include)
#if __has_include(<format>)
#include <format>
#endif
#endif
#if !defined(__cpp_lib_format)
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
namespace mlxbench_compat {
inline void format_into(std::ostringstream& out, std::string_view fmt) { out << fmt; }
template <class T, class... Rest>
void format_into(std::ostringstream& out, std::string_view fmt, T&& value, Rest&&... rest) {
  auto at = fmt.find("{}");
  if (at == std::string_view::npos) {
    out << fmt;
    return;
  }
  out << fmt.substr(0, at) << value;
  format_into(out, fmt.substr(at + 2), std::forward<Rest>(rest)...);
}
}  // namespace mlxbench_compat
namespace std {
template <class... Args>
std::string format(std::string_view fmt, Args&&... args) {
  std::ostringstream out;
  mlxbench_compat::format_into(out, fmt, std::forward<Args>(args)...);
  return out.str();
}
}  // namespace std
#endif
#endif

#endif
