# Files embedded in liblocalm (see lm_embed in CMakeLists.txt and tools/embed.cmake).

# The chat page: JavaScript libraries come from npm at build time and are
# bundled with esbuild; nothing from node_modules is committed.
find_program(LM_NPM npm REQUIRED)
set(LM_WEB_OUT ${CMAKE_BINARY_DIR}/web)
add_custom_command(OUTPUT ${LM_WEB_OUT}/app.js
  COMMAND ${LM_NPM} ci --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E env npm_config_outdir=${LM_WEB_OUT} ${LM_NPM} run --silent build
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/web
  DEPENDS ${CMAKE_SOURCE_DIR}/web/src/app.js ${CMAKE_SOURCE_DIR}/web/package.json
          ${CMAKE_SOURCE_DIR}/web/package-lock.json
  COMMENT "Bundling the chat page (npm ci + esbuild)")
lm_embed(lm_web_index_html ${CMAKE_SOURCE_DIR}/web/index.html)
lm_embed(lm_web_style_css ${CMAKE_SOURCE_DIR}/web/style.css)
lm_embed(lm_web_app_js ${LM_WEB_OUT}/app.js)
lm_embed(lm_catalog_json ${CMAKE_SOURCE_DIR}/catalog/models.json)

# The demo model (tools/train-demo-model): LocalM's default, offline model.
lm_embed(lm_demo_model_gguf ${CMAKE_SOURCE_DIR}/models/localm-demo.gguf)
