# Installation beyond the binary, the plugins and the CMake package (see CMakeLists.txt), and the
# Debian package: `cmake --build build && (cd build && cpack -G DEB)`.
#
# Installed (relative to the prefix; the package's prefix is /usr):
#   bin/suanli, lib/suanli/backends/libsuanli_backend_*.so
#   include/suanli/backend.h, lib/cmake/suanli/*, share/pkgconfig/suanli-backend.pc
#   share/suanli/suites, share/suanli/schema, share/doc/suanli (README, docs, LICENSE, examples)
#   share/man/man1/suanli*.1 (help2man, from --help at build time)
#   share/bash-completion/completions/suanli
#   lib/python3/dist-packages/suanli (the Python reader, python/suanli)

install(DIRECTORY reports/schema/ DESTINATION ${CMAKE_INSTALL_DATADIR}/suanli/schema)
install(DIRECTORY reports/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES README.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES backends/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME backends.md)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY backends/template/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/backend-template
  COMPONENT sdk)
install(FILES cmake/suanli.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
  RENAME suanli)
install(DIRECTORY python/suanli DESTINATION lib/python3/dist-packages
  PATTERN __pycache__ EXCLUDE)

# pkg-config for plugin authors who do not use CMake; relocatable (prefix from the file's place).
configure_file(cmake/suanli-backend.pc.in ${CMAKE_BINARY_DIR}/suanli-backend.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/suanli-backend.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig
  COMPONENT sdk)

# Man pages from --help (help2man), rebuilt whenever suanli is.
find_program(HELP2MAN_EXECUTABLE help2man)
if(HELP2MAN_EXECUTABLE)
  set(_pages
    "suanli|measure and certify the compute of AI accelerators and CPUs"
    "info|show backends, devices and theoretical peaks"
    "list|list suites and workloads"
    "run|run a suite, verify every output, write a JSON report"
    "export|convert reports to CSV, Markdown, OpenMetrics or Google Benchmark JSON"
    "rate|turn reports into a capacity rating"
    "compare|compare two reports workload by workload"
    "conformance|check a backend plugin against the ABI contract"
    "certify|run a certification profile and sign a certificate"
    "keygen|write an Ed25519 key pair for certificates"
    "verify|verify a signed certificate")
  set(_man_outputs)
  foreach(_page ${_pages})
    string(REPLACE "|" ";" _parts "${_page}")
    list(GET _parts 0 _cmd)
    list(GET _parts 1 _what)
    if(_cmd STREQUAL "suanli")
      set(_file suanli.1)
      set(_prog "$<TARGET_FILE:suanli>")
    else()
      set(_file suanli-${_cmd}.1)
      set(_prog "$<TARGET_FILE:suanli> ${_cmd}")
    endif()
    add_custom_command(
      OUTPUT ${CMAKE_BINARY_DIR}/man/${_file}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${CMAKE_COMMAND} -E env COLUMNS=80 ${HELP2MAN_EXECUTABLE} --no-info
              --version-string=${PROJECT_VERSION} --section=1 "--name=${_what}"
              --output=${CMAKE_BINARY_DIR}/man/${_file} "${_prog}"
      DEPENDS suanli VERBATIM)
    list(APPEND _man_outputs ${CMAKE_BINARY_DIR}/man/${_file})
  endforeach()
  add_custom_target(suanli_man ALL DEPENDS ${_man_outputs})
  install(FILES ${_man_outputs} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man pages (scripts/setup.sh installs it)")
endif()

# The Debian package. `install` (and so cpack) does not rebuild the whole tree first: package a
# finished build.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_PACKAGE_NAME suanli)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "suanli")
set(CPACK_PACKAGE_CONTACT "suanli maintainers <suanli@invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "benchmark and certification suite for AI accelerators and CPUs")
set(CPACK_PACKAGE_DESCRIPTION
  "suanli measures what AI accelerators and CPUs sustain at FP64, FP32, FP16/BF16 and INT8, \
verifies every output, writes sealed JSON reports, rates capacity and signs certificates. \
Backends are plugins (CPU with OpenBLAS and oneDNN, CUDA, OpenCL).")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The CPU backend loads OpenBLAS with dlopen (to steer its kernel choice), so dpkg-shlibdeps
# cannot see it.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3, libopenblas0 | libopenblas0-pthread | libopenblas0-openmp")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "pocl-opencl-icd, python3-matplotlib, bash-completion")
set(CPACK_STRIP_FILES ON)
include(CPack)
