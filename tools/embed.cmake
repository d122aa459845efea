# Turns the file IN into a C source OUT that defines
#   const unsigned char SYM[]; const unsigned long SYM_len;
file(READ ${IN} HEX HEX)
string(LENGTH "${HEX}" HEXLEN)
math(EXPR NBYTES "${HEXLEN} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BODY "${HEX}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" BODY "${BODY}")
file(WRITE ${OUT} "/* generated from ${IN} */\n#include <stddef.h>\nconst unsigned char ${SYM}[] = {\n${BODY}0x00};\nconst size_t ${SYM}_len = ${NBYTES};\n")
