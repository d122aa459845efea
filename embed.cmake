lm_embed(lm_catalog_json ${CMAKE_SOURCE_DIR}/catalog/models.json)
