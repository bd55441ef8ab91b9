<?xml version="1.0" encoding="UTF-8"?>
<gml:MultiSurface xmlns:gml="http://www.opengis.net/gml/3.2" gml:id="ms1" srsName="http://www.opengis.net/def/crs/EPSG/0/4527">
  <gml:surfaceMember>
    <gml:Surface gml:id="s1">
      <gml:patches>
        <gml:PolygonPatch>
          <gml:exterior><gml:LinearRing><gml:posList>4057620.125 39503005.5 4057631.8 39503260.3 4057540.45 39503395.875 4057385.0 39503360.125 4057370.64 39503120.0 4057455.9 39502990.25 4057620.125 39503005.5</gml:posList></gml:LinearRing></gml:exterior>
          <gml:interior><gml:LinearRing><gml:posList>4057540.0 39503150.0 4057470.0 39503150.0 4057470.0 39503230.0 4057540.0 39503230.0 4057540.0 39503150.0</gml:posList></gml:LinearRing></gml:interior>
        </gml:PolygonPatch>
      </gml:patches>
    </gml:Surface>
  </gml:surfaceMember>
  <gml:surfaceMember>
    <gml:Polygon gml:id="p2">
      <gml:exterior><gml:LinearRing><gml:pos>4057760.0 39503520.0</gml:pos><gml:pos>4057765.25 39503640.5</gml:pos><gml:pos>4057690.75 39503645.0</gml:pos><gml:pos>4057684.5 39503515.25</gml:pos><gml:pos>4057760.0 39503520.0</gml:pos></gml:LinearRing></gml:exterior>
    </gml:Polygon>
  </gml:surfaceMember>
</gml:MultiSurface>
