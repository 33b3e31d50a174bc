# The CMake reader of build.conf, the build description (build.sh is the other reader: it
# sources the file). NAME="value" lines; a value may refer to an earlier name as ${NAME}.
# Sets every NAME as a variable of the caller. Used by CMakeLists.txt and, through `cmake -P`
# (MX_PRINT_DESCRIPTION=1: print NAME=value lines), by targets/tests/build_description_single.sh
# to check that both readers read the same values.
function(mx_read_description file)
  file(STRINGS ${file} lines REGEX "^[A-Za-z0-9_]+=\"[^\"]*\"$")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^([A-Za-z0-9_]+)=\"([^\"]*)\"$" "\\1" name "${line}")
    string(REGEX REPLACE "^([A-Za-z0-9_]+)=\"([^\"]*)\"$" "\\2" value "${line}")
    string(CONFIGURE "${value}" value)
    set(${name} "${value}")
    set(${name} "${value}" PARENT_SCOPE)
    if(MX_PRINT_DESCRIPTION)
      message(NOTICE "${name}=${value}")
    endif()
  endforeach()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND MX_PRINT_DESCRIPTION)
  mx_read_description(${CMAKE_CURRENT_LIST_DIR}/../build.conf)
endif()
