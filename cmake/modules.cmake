# The module libraries of src/, built from the layering table (cmake/layers.txt):
#   suanli_modules_from_table(<table>)
# makes, for each line "module: deps...", a static library suanli_<module> from the .cpp files of
# src/<module>/ (globbed with CONFIGURE_DEPENDS, so a new file is picked up; a main.cpp is left to
# the program that owns it), linked PUBLIC to suanli_<dep> for each dep. An "allow <file>
# <include>" line (a known violation) links the two modules as well, so the code links until it is
# fixed. Sets SUANLI_MODULE_TARGETS (every module library) in the caller's scope, and adds the
# target suanli_check_layers (part of ALL) that runs scripts/check_layers.py whenever a source or
# the table changes.
function(suanli_modules_from_table table)
  file(STRINGS ${table} lines)
  set(targets "")
  set(links "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "#.*" "" line "${line}")
    string(STRIP "${line}" line)
    if(line MATCHES "^allow +src/([a-z0-9_]+)/[^ ]+ +([a-z0-9_]+)/")
      list(APPEND links "${CMAKE_MATCH_1}>${CMAKE_MATCH_2}")
    elseif(line MATCHES "^([a-z0-9_]+):(.*)$")
      set(module ${CMAKE_MATCH_1})
      string(REGEX MATCHALL "[a-z0-9_]+" deps "${CMAKE_MATCH_2}")
      file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${module}/*.cpp)
      list(FILTER sources EXCLUDE REGEX "/main\\.cpp$")
      add_library(suanli_${module} STATIC ${sources})
      list(APPEND targets suanli_${module})
      foreach(dep IN LISTS deps)
        list(APPEND links "${module}>${dep}")
      endforeach()
    elseif(line)
      message(FATAL_ERROR "${table}: cannot read the line '${line}'")
    endif()
  endforeach()
  # Linked once every library exists (a line may name a module defined further down).
  foreach(link IN LISTS links)
    string(REPLACE ">" ";" pair "${link}")
    list(GET pair 0 from)
    list(GET pair 1 to)
    target_link_libraries(suanli_${from} PUBLIC suanli_${to})
  endforeach()
  set(SUANLI_MODULE_TARGETS ${targets} PARENT_SCOPE)

  file(GLOB_RECURSE all_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/*.h
    ${CMAKE_SOURCE_DIR}/src/*.cpp)
  set(stamp ${CMAKE_BINARY_DIR}/check_layers.stamp)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${SUANLI_PYTHON3} ${CMAKE_SOURCE_DIR}/scripts/check_layers.py
            --root ${CMAKE_SOURCE_DIR} --stamp ${stamp}
    DEPENDS ${all_sources} ${table} ${CMAKE_SOURCE_DIR}/scripts/check_layers.py
    COMMENT "Checking the includes of src/ against cmake/layers.txt" VERBATIM)
  add_custom_target(suanli_check_layers ALL DEPENDS ${stamp})
endfunction()

# suanli_embed_files(<module> <symbol> <glob>): the files matching <glob> compiled into
# suanli_<module> as the table `<symbol>()` of {file name, contents} (cmake/embed_files.cmake),
# regenerated when a file is added, removed or changed.
function(suanli_embed_files module symbol pattern)
  file(GLOB files CONFIGURE_DEPENDS ${pattern})
  string(REPLACE ";" "|" files_arg "${files}")
  set(out ${CMAKE_BINARY_DIR}/generated/${symbol}.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DFILES=${files_arg}" -DSYMBOL=${symbol}
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake VERBATIM)
  target_sources(suanli_${module} PRIVATE ${out})
endfunction()
