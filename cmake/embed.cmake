# tandem_embed_text(OUT_CPP NAMESPACE SYMBOL FILE): a C++ source defining
# `const char* NAMESPACE::SYMBOL` with FILE's text, regenerated when FILE changes.
function(tandem_embed_text out_cpp ns symbol file)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
  file(READ "${file}" text)
  file(WRITE "${out_cpp}.tmp"
"// Generated from ${file}. Do not edit.
namespace ${ns} {
extern const char* ${symbol};
const char* ${symbol} = R\"TANDEMTEXT(${text})TANDEMTEXT\";
}  // namespace ${ns}
")
  configure_file("${out_cpp}.tmp" "${out_cpp}" COPYONLY)
endfunction()
